"""One run per workdir: a second process on a held workdir is refused before it touches a file.

Before the lock, two processes on one workdir both trained: metrics.jsonl repeated steps,
rounds.jsonl repeated rounds, and the loser blamed a full disk.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lgl_spl import lock
from lgl_spl.errors import ConfigError
from lgl_spl.train import train_and_evaluate
from tests.helpers import REPO, cli_env, load_sweep, read_rows
from tests.reliability.common import TINY, config, error_lines, same_metrics, start_cli


def test_a_held_workdir_is_refused_naming_the_holder(tmp_path):
    held = lock.claim_workdir(str(tmp_path))
    try:
        assert lock.holder(str(tmp_path)).startswith(f"PID {os.getpid()} on host ")
        before = sorted(os.listdir(tmp_path))
        with pytest.raises(lock.WorkdirBusy, match=r"another run is using the workdir .*PID "):
            lock.claim_workdir(str(tmp_path))
        with pytest.raises(ConfigError, match="PID"):  # what main prints in one line, exit 2
            train_and_evaluate(config("random"), str(tmp_path))
        assert sorted(os.listdir(tmp_path)) == before == [lock.LOCK_FILE]
    finally:
        held.release()
    assert lock.holder(str(tmp_path)) is None  # released: the file stays, the lock does not
    lock.claim_workdir(str(tmp_path)).release()


def test_a_lock_dies_with_its_process(tmp_path):
    """flock belongs to the open file: a process that ends (here: SIGKILLs itself) leaves no
    stale lock behind."""
    code = (
        "import os, signal; from lgl_spl import lock; "
        f"lock.claim_workdir({str(tmp_path)!r}); os.kill(os.getpid(), signal.SIGKILL)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60)
    assert done.returncode == -9
    assert "pid" in (tmp_path / lock.LOCK_FILE).read_text()  # it did hold it
    assert lock.holder(str(tmp_path)) is None
    lock.claim_workdir(str(tmp_path)).release()


def _start(workdir) -> subprocess.Popen:
    return start_cli(workdir)


@pytest.mark.slow
def test_two_processes_on_one_workdir_train_once(tmp_path):
    """Started together: exactly one trains, the other exits 2 with one line naming the
    holder, and the finished files equal a single run's (no repeated steps or rounds)."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(config("random"), str(ref))
    procs = [_start(run), _start(run)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-2000:] for _, _, err in results]
    _, _, err = next(r for r in results if r[0] == 2)
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert "another run is using the workdir" in line and "PID" in line and "host" in line
    assert len(err.strip().splitlines()) == 1, err  # nothing else: it stopped at once
    same_metrics(run, ref)
    steps = [r["step"] for r in read_rows(str(run), "metrics.jsonl")]
    assert steps == sorted(set(steps))


def test_sweep_skips_a_busy_run_and_says_so(tmp_path, capsys):
    sweep = load_sweep()
    root = tmp_path / "root"
    (busy,) = sweep.plan(str(root), [f"{TINY}:random"], [0])
    held = lock.claim_workdir(busy.workdir)
    try:
        code = sweep.main(["--root", str(root), "--configs", f"{TINY}:random", "--seeds", "0"])
    finally:
        held.release()
    out = capsys.readouterr().out
    assert code == 0
    assert f"{busy.workdir}: busy (PID {os.getpid()} on host" in out
    assert (
        f"busy, skipped (another process holds it; re-run the sweep later): {busy.workdir}" in out
    )
    assert "0/1 runs ok" in out
    assert sorted(os.listdir(busy.workdir)) == [lock.LOCK_FILE]  # nothing started there


@pytest.mark.slow
def test_two_sweeps_on_one_root_never_run_a_workdir_twice(tmp_path):
    """Two sweeps started together on one root: each run is trained by one process only
    (its metrics equal a single run's), and the runs one sweep left to the other are named
    as busy."""
    root = tmp_path / "root"
    args = ["--root", str(root), "--configs", f"{TINY}:random", "--seeds", "0", "1"]
    sweeps = [
        subprocess.Popen(
            [sys.executable, os.path.join("launch", "sweep.py"), *args],
            cwd=REPO,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0], outs
    assert any("busy" in out for out in outs), outs
    for seed in (0, 1):
        workdir = root / "random" / f"seed_{seed}"
        ref = tmp_path / f"ref_{seed}"
        c = config("random")
        c.seed = seed
        train_and_evaluate(c, str(ref))
        same_metrics(workdir, ref)

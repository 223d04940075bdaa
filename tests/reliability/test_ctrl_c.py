"""Ctrl-C (SIGINT) is handled as SIGTERM is: stop at a step boundary, keep what is saved, one
line saying where to resume, exit 130; a second Ctrl-C stops at once. Never a traceback.

Before, a Ctrl-C ended in a ``KeyboardInterrupt`` traceback (once inside a lazy import).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from lgl_spl import parallel
from lgl_spl.train import train_and_evaluate
from tests.helpers import REPO, cli_env
from tests.reliability.common import TINY, config, error_lines, same_metrics, start_cli


def _start(workdir, *extra) -> subprocess.Popen:
    return start_cli(workdir, *extra, stdout=subprocess.DEVNULL)


def _interrupt_after(proc: subprocess.Popen, pattern: str, *, again: float | None = None) -> str:
    """Send Ctrl-C once a stderr line matches ``pattern`` (and a second one ``again`` s later);
    the rest of stderr."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if re.search(pattern, line):
            proc.send_signal(signal.SIGINT)
            if again is not None:
                time.sleep(again)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            break
    seen.append(proc.stderr.read())
    proc.wait(timeout=120)
    return "".join(seen)


@pytest.mark.slow
def test_ctrl_c_mid_run_saves_stops_and_resumes_exactly(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train_and_evaluate(config("random"), str(ref))
    proc = _start(run, "--config.train.log_every=1")
    err = _interrupt_after(proc, r" step 20/\d+ \|")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and not error_lines(err), err
    saved = re.search(r"Ctrl-C: checkpoint saved at step (\d+) in (\S+); re-run the same", err)
    assert saved, err
    assert 20 <= int(saved.group(1)) < 60
    again = subprocess.run(
        [sys.executable, "-m", "lgl_spl.main", "--config", f"{TINY}:random", "--workdir", str(run)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert f"resumed from the checkpoint at step {saved.group(1)}" in again.stderr
    same_metrics(run, ref)


@pytest.mark.slow
@pytest.mark.parametrize(
    "when",
    [
        "run directory: ",  # the data and the model being set up
        "compiling the train step",  # the first step's compilation (inside the loop)
    ],
)
def test_ctrl_c_before_the_first_step_is_one_line(tmp_path, when):
    proc = _start(tmp_path / "run")
    err = _interrupt_after(proc, re.escape(when))
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = error_lines(err) or [ln for ln in err.splitlines() if "Ctrl-C: checkpoint" in ln]
    assert len(lines) == 1, err


def test_ctrl_c_while_the_libraries_load_is_one_line(tmp_path):
    """The earliest moment: Python still importing the program's libraries."""
    for delay in (0.2, 0.8):
        proc = _start(tmp_path / "run")
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        (line,) = error_lines(err)
        assert "interrupted (Ctrl-C)" in line


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once(tmp_path):
    proc = _start(tmp_path / "run", "--config.train.log_every=1")
    err = _interrupt_after(proc, r" step 5/\d+ \|", again=0.05)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    # Either the second Ctrl-C landed before the first one's checkpoint was done, or after
    # the process had already stopped cleanly; both end in one line.
    assert len(error_lines(err)) + err.count("Ctrl-C: checkpoint saved") == 1, err


def test_the_watch_stops_at_once_on_a_second_signal(monkeypatch, capsys):
    exits = []
    monkeypatch.setattr(parallel.os, "_exit", exits.append)
    watch = parallel.PreemptionWatch(on_second=lambda: "the checkpoint at step 7 is kept")
    watch.start()
    try:
        assert not watch.reached(3)
        signal.raise_signal(signal.SIGINT)  # the first: stop at the next step boundary
        assert watch.reached(4) and watch.name == "Ctrl-C" and watch.exit_code == 130
        assert exits == []
        signal.raise_signal(signal.SIGTERM)  # the second (any of the two): at once
    finally:
        watch.stop()
    assert exits == [130]  # the first signal's code
    err = capsys.readouterr().err
    assert "Ctrl-C: stopping after this step" in err
    assert "error: SIGTERM again: stopped at once; the checkpoint at step 7 is kept" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back

"""Run the README's commands as a new user does, from the root of a fresh clone.

Every fenced ``bash`` block of README.md right after a ``<!-- ci: KIND -->`` line is
run as written (``bash -euo pipefail``), so a README command that stops working turns
CI red. KIND says what is checked besides the exit code:

- ``run``: nothing more.
- ``train WORKDIR``: the run trained (the last ``metrics.jsonl`` row is at the end of
  the run, with a real accuracy), and the same block run a second time finishes
  without training again (it resumes from the finished run's checkpoint) and leaves
  ``metrics.jsonl`` as it was.
- ``report OUT``: the report's table was written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

MARK = re.compile(r"^<!-- ci: (\w+)(?: (\S+))? -->$")


def blocks(readme: str) -> list[tuple[str, str, str]]:
    """``(kind, argument, script)`` for each marked block, in README order."""
    lines = open(readme).read().splitlines()
    out = []
    for i, line in enumerate(lines):
        mark = MARK.match(line.strip())
        if not mark:
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
            sys.exit(f"README.md line {i + 1}: a ci mark must stand right before a ```bash block")
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        out.append((mark.group(1), mark.group(2) or "", "\n".join(lines[i + 2 : end])))
    return out


def run(script: str) -> str:
    print(f"$ {script}", flush=True)
    t0 = time.time()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    print(done.stdout[-3000:], end="", flush=True)
    if done.returncode != 0:
        sys.exit(f"README command failed (exit {done.returncode}): {script}")
    print(f"  ok in {time.time() - t0:.0f} s", flush=True)
    return done.stdout


def metrics(workdir: str) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def check_train(script: str, workdir: str) -> None:
    if os.path.exists(workdir):
        sys.exit(f"{workdir} exists before the README's first run: a fresh clone must not hold it")
    run(script)
    rows = metrics(workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        steps = json.load(f)["train.num_steps"]
    last = rows[-1]
    if last["step"] != steps or not last["test_accuracy"] > 0.5:
        sys.exit(
            f"{workdir}: the last metrics row is {last}, expected step {steps}, accuracy > 0.5"
        )
    print(f"  trained: step {last['step']}, test accuracy {last['test_accuracy']:.4f}")
    again = run(script)
    if "resumed from the checkpoint" not in again or metrics(workdir) != rows:
        sys.exit(f"{workdir}: running the command again did not resume the finished run")
    print("  second run: resumed the finished run, metrics.jsonl unchanged")


def check_report(script: str, out: str) -> None:
    run(script)
    table = os.path.join(out, "table.md")
    if not os.path.isfile(table):
        sys.exit(f"the report command wrote no {table}")
    print(f"  wrote {table}")


def main() -> None:
    marked = blocks("README.md")
    if not marked:
        sys.exit("README.md marks no command for CI (<!-- ci: KIND --> before a ```bash block)")
    for kind, arg, script in marked:
        if kind == "run":
            run(script)
        elif kind == "train":
            check_train(script, arg)
        elif kind == "report":
            check_report(script, arg)
        else:
            sys.exit(f"README.md: unknown ci mark {kind!r}")
    print(f"README commands: {len(marked)} blocks ran as written")


if __name__ == "__main__":
    main()

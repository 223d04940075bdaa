"""The repository itself: a fresh clone holds no run output; CI runs the README commands."""

import os
import re
import subprocess

import pytest

from tests.helpers import REPO

RUN_ROOTS = ("runs", "workdirs")  # where runs go by default (main.py) and by habit


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    done = _git("ls-files")
    assert done.returncode == 0, f"the tests run from a git checkout: {done.stderr.strip()}"
    return done.stdout.splitlines()


def test_no_run_output_is_tracked(tracked):
    committed = [p for p in tracked if p.split("/")[0] in RUN_ROOTS]
    assert not committed, (
        f"run output is committed ({committed[:3]}, …): a fresh clone's default workdir would "
        "hold an old run; `git rm -r --cached` it"
    )
    # Nor any checkpoint anywhere (orbax writes a commit marker into each step).
    assert not [p for p in tracked if p.endswith("commit_success.txt")]


@pytest.mark.parametrize("root", RUN_ROOTS)
def test_default_workdir_roots_are_ignored(root):
    assert _git("check-ignore", "-q", f"{root}/some_run/metrics.jsonl").returncode == 0


def test_ci_runs_the_readme_commands():
    with open(os.path.join(REPO, ".ci", "run")) as f:
        ci = f.read()
    assert "readme_commands.py" in ci
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    marked = re.findall(r"<!-- ci: (\w+)(?: (\S+))? -->\n```bash\n(.*?)\n```", readme, re.S)
    commands = [block for _, _, block in marked]
    assert any("python -m lgl_spl.main --config configs/digits_random.py" in c for c in commands)
    assert any("--help" in c for c in commands)
    assert ("train", "runs/digits_random") in [(k, a) for k, a, _ in marked]


def test_the_notebook_has_an_extra_and_a_readme_command_ci_runs():
    """The quickstart notebook runs as the README says, with the extra it names (CI runs the
    block; tests/examples/test_quickstart.py executes the notebook in the test suite too)."""
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0] for d in extras["notebook"]}
    assert {"nbconvert", "ipykernel"} <= names and names & {"jupyterlab", "notebook"}
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    marked = re.findall(r"<!-- ci: run -->\n```bash\n(.*?)\n```", readme, re.S)
    (block,) = [b for b in marked if "quickstart.ipynb" in b]
    assert "pip install -e '.[notebook]'" in block
    assert "jupyter nbconvert --to notebook --execute examples/quickstart.ipynb" in block

"""examples/quickstart.ipynb is committed with its outputs and runs from top to bottom."""

import os

import nbclient  # the test extra: nbclient, nbformat, ipykernel
import nbformat

from tests.helpers import REPO

NOTEBOOK = os.path.join(REPO, "examples", "quickstart.ipynb")


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in str(o)]


def test_the_committed_notebook_has_its_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs and c.execution_count for c in code)
    assert _outputs(nb, "image/png")  # the figure
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


def test_the_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)  # raises CellExecutionError, naming the cell, on any error
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "FunctionalSampler('spld', 1200 examples" in text
    assert "round 0: needed ['features']; selected 1.00" in text  # SPLD's groups, then losses
    assert "round 7: needed ['losses']" in text
    assert "SignalError: spld round 3 needs the signals losses" in text
    assert _outputs(nb, "image/png")

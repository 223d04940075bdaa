"""Fixtures for the report tests (Agg backend; synthetic workdirs in tmp_path)."""

import matplotlib
import pytest

from tests.report.helpers import write_run

matplotlib.use("Agg")


@pytest.fixture
def run_factory(tmp_path):
    """``run_factory("random/seed_0", method=..., ...)`` writes a workdir under tmp_path/runs."""
    root = tmp_path / "runs"

    def make(name: str, **kwargs) -> str:
        return write_run(root / name, **kwargs)

    make.root = str(root)
    return make

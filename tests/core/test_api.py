"""The top-level package re-exports the pure API without importing jax up front."""

import importlib
import subprocess
import sys

import lgl_spl
from lgl_spl import core


def test_top_level_names_are_the_core_api_and_the_loop_api():
    assert lgl_spl._CORE == core.__all__
    for name in core.__all__:
        assert getattr(lgl_spl, name) is getattr(core, name)
    assert set(lgl_spl.__all__) == set(core.__all__) | set(lgl_spl._API)
    for name, module in lgl_spl._API.items():
        assert getattr(lgl_spl, name) is getattr(importlib.import_module(module), name)
    assert set(lgl_spl.__all__) <= set(dir(lgl_spl))


def test_importing_the_package_or_the_report_does_not_load_jax():
    code = "import sys, lgl_spl, lgl_spl.report; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

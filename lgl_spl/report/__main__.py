"""``python -m lgl_spl.report RUNS_DIR [RUNS_DIR ...] --out OUT_DIR`` (see ``cli.py``)."""

import sys

from lgl_spl.report.cli import main

if __name__ == "__main__":
    sys.exit(main())

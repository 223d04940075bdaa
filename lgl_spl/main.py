"""Train one experiment: python -m lgl_spl.main --config configs/X.py --workdir DIR.

Overrides: --config.train.num_steps=500 (any key). Re-running the same command
resumes from the workdir's checkpoint.
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from lgl_spl.errors import ConfigError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_ALLOW = flags.DEFINE_bool(
    "allow_config_change", False, "Resume even if the config differs from the checkpoint's."
)


def _run(argv) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _WORKDIR.value is None:
        raise ConfigError("--workdir is required")
    if flags.FLAGS["config"].present == 0:
        raise ConfigError("--config is required (a config file such as configs/digits_random.py)")
    try:
        config = _CONFIG.value
        config.get("seed")  # config_flags reports a failed load on first access
    except OSError as e:
        path = getattr(flags.FLAGS["config"], "config_filename", "")
        reason = str(e).strip().splitlines()[-1].strip()
        raise ConfigError(f"cannot load the config file {path!r}: {reason}") from None
    from lgl_spl.train import train_and_evaluate  # jax starts only after the flags are good

    train_and_evaluate(config, _WORKDIR.value, allow_config_change=_ALLOW.value)


def main() -> None:
    try:
        argv = flags.FLAGS(sys.argv)
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        _run(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()

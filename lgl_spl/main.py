"""Train one experiment: python -m lgl_spl.main --config configs/X.py --workdir DIR.

Overrides: --config.train.num_steps=500 (any key). Re-running the same command
resumes from the workdir's checkpoint.
"""

from __future__ import annotations

import re
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


def _unknown_override(error: Exception) -> str:
    """Name the override whose key the config lacks (config_flags names only the key)."""
    text = str(error).replace("\\n", "\n").replace("\\'", "'")
    quoted = re.findall(r"'([A-Za-z0-9_.]+)'", text)
    key = quoted[0] if quoted else ""
    hint = re.search(r'Did you mean "([^"]+)"', text)
    overrides = [a.split("=")[0][2:] for a in sys.argv[1:] if a.startswith("--config.")]
    culprit = next((o for o in overrides if key and key.split(".")[-1] in o.split(".")[1:]), None)
    if culprit is None:  # not an override: the config file itself failed
        first = (text.strip().splitlines() or [""])[0]
        return f"cannot build the config: {type(error).__name__}: {first}"
    suggestion = f"; did you mean {hint.group(1)!r}?" if hint else " (check its spelling)"
    return f"--{culprit}: the config has no key {culprit[len('config.') :]!r}{suggestion}"


def main() -> None:
    try:
        argv = flags.FLAGS(sys.argv)
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (AttributeError, KeyError) as e:  # --config.KEY=VALUE with a KEY the config lacks
        print(f"error: {_unknown_override(e)}", file=sys.stderr)
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

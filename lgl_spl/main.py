"""Train one experiment.

    python -m lgl_spl.main --config configs/digits_random.py [--workdir DIR]
                           [--config.train.num_steps=500 ...]

Without --workdir the run goes to runs/<config name>. Any config key can be
overridden on the command line. Re-running the same command resumes from the
workdir's checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys


def _starting_interrupted(*_) -> None:
    sys.stderr.write("error: interrupted (Ctrl-C) while starting; nothing was written\n")
    os._exit(130)


# Ctrl-C while the program's libraries load: one line, no traceback. (A SIGINT that the
# parent ignores, as a shell does for background jobs, stays ignored throughout.)
_IGNORED = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
if __name__ == "__main__" and not _IGNORED:
    signal.signal(signal.SIGINT, _starting_interrupted)

import re  # noqa: E402
import traceback  # noqa: E402

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from lgl_spl.errors import ConfigError, SaveError, UserCodeError  # noqa: E402

# Set to print the full traceback of an error in the user's own code (a model, a config).
TRACEBACK_ENV = "LGL_SPL_TRACEBACK"

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (.py).")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints and metrics (default: runs/<config name>)."
)
_ALLOW = flags.DEFINE_bool(
    "allow_config_change", False, "Resume even if the config differs from the checkpoint's."
)

_HELP = ("--help", "-h", "-help", "--helpshort", "-?")
_HELPFULL = ("--helpfull", "-helpfull")


def default_workdir(config_arg: str) -> str:
    """``runs/<name>`` for ``--config path/name.py`` (``runs/name_arg`` for ``name.py:arg``)."""
    path, _, arg = config_arg.partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    return os.path.join("runs", f"{name}_{arg}" if arg else name)


def _run(argv) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if flags.FLAGS["config"].present == 0:
        raise ConfigError("--config is required (a config file such as configs/digits_random.py)")
    config_arg = flags.FLAGS["config"].serialize().split("=", 1)[-1]
    try:
        config = _CONFIG.value
        config.get("seed")  # config_flags reports a failed load on first access
    except OSError as e:
        path = getattr(flags.FLAGS["config"], "config_filename", "")
        reason = str(e).strip().splitlines()[-1].strip()
        raise ConfigError(f"cannot load the config file {path!r}: {reason}") from None
    if _RUN["method"]:  # --config.method.*: applied by the project, not by config_flags
        from lgl_spl.configlib import override_method

        override_method(config, _RUN["method"])
    workdir = _WORKDIR.value or default_workdir(config_arg)
    _RUN["workdir"] = workdir
    from lgl_spl.train import train_and_evaluate  # jax starts only after the flags are good

    try:
        train_and_evaluate(config, workdir, allow_config_change=_ALLOW.value)
    except OSError as e:  # a full disk or a lost permission while writing the run's files
        outside = e.filename and not _inside(str(e.filename), workdir)
        if outside:  # a file the run reads (its data), not one of its own
            raise ConfigError(f"{str(e.filename)!r} cannot be read: {e.strerror or e}") from None
        from lgl_spl.train.checkpoints import kept_note

        note = kept_note(os.path.join(workdir, "checkpoints"))
        raise SaveError(f"cannot write the run's files in {workdir} ({e}); {note}") from None


# The workdir once the flags are good (for the closing line); the method overrides taken
# out of the command line.
_RUN: dict = {"workdir": None, "method": []}
_METHOD_FLAG = re.compile(r"^--?config\.method\.(\w+)(?:=(.*))?$", re.S)


def _take_method_overrides(argv: list[str]) -> list[str]:
    """``argv`` without its ``--config.method.KEY[=]VALUE`` flags, which go to ``_RUN``.

    config_flags can only set keys the config already has; switching the method
    (``--config.method.name=spld``) brings keys the old method block lacks, so the project
    applies these itself once the config is loaded (configlib.override_method).
    """
    kept, taken, i = [], [], 0
    while i < len(argv):
        match = _METHOD_FLAG.match(argv[i])
        if match is None:
            kept.append(argv[i])
        elif match.group(2) is not None:
            taken.append((match.group(1), match.group(2)))
        elif i + 1 < len(argv):
            taken.append((match.group(1), argv[i + 1]))
            i += 1
        else:
            raise ConfigError(f"{argv[i]} needs a value ({argv[i]}=VALUE)")
        i += 1
    _RUN["method"] = taken
    return kept


def _interrupted() -> str:
    """The line for a Ctrl-C outside the training steps (set-up, compilation, a save)."""
    workdir = _RUN["workdir"]
    if workdir is None:
        return "interrupted (Ctrl-C) while starting; nothing was written"
    from lgl_spl.train.checkpoints import kept_note

    directory = os.path.join(workdir, "checkpoints")
    return f"interrupted (Ctrl-C) outside the training steps; {kept_note(directory, failure=False)}"


def _user_code(error: UserCodeError) -> str:
    """The line for an exception raised in the user's own code; where its traceback is."""
    if os.environ.get(TRACEBACK_ENV):
        traceback.print_exception(error.error, file=sys.stderr)
        return str(error)
    log = getattr(error, "log_path", None)
    shown = f"the full traceback is in {log}" if log else f"{TRACEBACK_ENV}=1 shows the traceback"
    return f"{error} ({shown})"


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _config_path() -> str:
    """The --config file named on the command line (``--config=F`` or ``--config F``)."""
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a.startswith(("--config=", "-config=")):
            return a.split("=", 1)[1].partition(":")[0]
        if a in ("--config", "-config") and i + 1 < len(args):
            return args[i + 1].partition(":")[0]
    return ""


def _load_error(error: BaseException) -> str:
    """One line for a config file or override that failed while the flags were parsed."""
    path = _config_path()
    here = os.path.abspath(path) if path else None
    line = None
    if isinstance(error, SyntaxError) and error.filename:
        line = error.lineno if os.path.abspath(error.filename) == here else None
    else:
        for frame in traceback.extract_tb(error.__traceback__):
            if here and os.path.abspath(frame.filename) == here:
                line = frame.lineno
    if line is None and not isinstance(error, SyntaxError):
        override = _unknown_override(error)
        if override:
            return override
    where = f"{path}, line {line}" if line else path
    if isinstance(error, ConfigError):  # the project's own message says what is wrong
        return f"cannot load the config file {where}: {_first_line(error)}"
    line = f"cannot load the config file {where}: {type(error).__name__}: {_first_line(error)}"
    if isinstance(error, SyntaxError):
        return line
    if os.environ.get(TRACEBACK_ENV):
        traceback.print_exception(error, file=sys.stderr)
        return line
    return f"{line} ({TRACEBACK_ENV}=1 shows the traceback)"


def _flag_error(error: flags.Error) -> str:
    """One line for a flag that failed to parse.

    ml_collections re-raises a TypeError or ValueError from a config file as a new
    exception whose text is the whole traceback, and absl wraps that again; the
    original is the innermost ``__context__``, and it is what the line reports.
    """
    inner = error.__context__
    if inner is None or "Error whilst parsing config file" not in str(inner):
        return _first_line(error)
    original = inner.__context__ or inner
    return _load_error(original)


def _first_line(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return error.msg
    text = str(error).replace("\\n", "\n").replace("\\'", "'")
    missing = re.search(r'Key "([^"]+)" does not exist', text)
    if missing:  # a locked ConfigDict: a misspelt key in the file
        hint = re.search(r'Did you mean "([^"]+)"', text)
        suggestion = f"; did you mean {hint.group(1)!r}?" if hint else ""
        return f"the config has no key {missing.group(1)!r}{suggestion}"
    return (text.strip().splitlines() or [""])[0]


def _unknown_override(error: Exception) -> str | None:
    """Name the --config.KEY override whose key the config lacks (config_flags names the key)."""
    if not isinstance(error, AttributeError | KeyError):
        return None
    text = str(error).replace("\\n", "\n").replace("\\'", "'")
    quoted = re.findall(r"'([A-Za-z0-9_.]+)'", text)
    key = quoted[0] if quoted else ""
    hint = re.search(r'Did you mean "([^"]+)"', text)
    overrides = [a.split("=")[0][2:] for a in sys.argv[1:] if a.startswith("--config.")]
    culprit = next((o for o in overrides if key and key.split(".")[-1] in o.split(".")[1:]), None)
    if culprit is None:
        return None
    suggestion = f"; did you mean {hint.group(1)!r}?" if hint else " (check its spelling)"
    return f"--{culprit}: the config has no key {culprit[len('config.') :]!r}{suggestion}"


def _help(full: bool) -> str:
    if full:
        return flags.FLAGS.get_help()
    own = [flags.FLAGS[n] for n in ("config", "workdir", "allow_config_change")]
    lines = [__doc__.strip(), "", "flags:"]
    for flag in own:
        lines.append(f"  --{flag.name}: {flag.help}")
    lines.append("  --config.KEY=VALUE: override one config key (e.g. --config.seed=1)")
    lines.append(
        "  --config.method.name=X: switch to method X at its defaults (a name, or "
        "package.module:ATTR); X's settings may follow (--config.method.num_clusters=3); the "
        "config's other blocks stay as it set them, its optimiser and schedule included"
    )
    lines.append("  --helpfull: every flag, absl's included")
    return "\n".join(lines)


def main() -> None:
    # Outside the training steps (start-up, data, compilation of the initial state, the
    # closing writes) Ctrl-C ends the process at once: a KeyboardInterrupt there can land
    # inside a library's import, which turns it into an ImportError and a traceback. Every
    # file the run writes is replaced whole or appended (checkpoints and rewrites by
    # rename), so stopping anywhere loses nothing saved. The loop handles it as SIGTERM.
    previous = None if _IGNORED else signal.signal(signal.SIGINT, _interrupted_now)
    try:
        _main()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _interrupted_now(*_) -> None:
    sys.stdout.flush()
    sys.stderr.write(f"error: {_interrupted()}\n")
    sys.stderr.flush()
    os._exit(130)


def _main() -> None:
    args = sys.argv[1:]
    if any(a in _HELPFULL for a in args) or any(a in _HELP for a in args):
        print(_help(full=any(a in _HELPFULL for a in args)))
        sys.exit(0)
    from lgl_spl.train import console

    console.setup_logging()
    try:
        sys.argv = _take_method_overrides(sys.argv)  # config_flags reads sys.argv itself
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        argv = flags.FLAGS(sys.argv)
    except flags.Error as e:
        print(f"error: {_flag_error(e)}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - the config file (or an override) failed to load
        print(f"error: {_load_error(e)}", file=sys.stderr)
        sys.exit(2)
    try:
        _run(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)
    except SaveError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(4)
    except UserCodeError as e:
        print(f"error: {_user_code(e)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Errors that mean "the user asked for something that cannot work".

`main` prints them as one line and exits non-zero, without a traceback.
"""


class ConfigError(ValueError):
    """Bad configuration or input data, detected before training starts."""


class DatasetUnavailableError(ConfigError):
    """A dataset is not prepared locally and cannot be downloaded."""


class SaveError(RuntimeError):
    """A checkpoint could not be written (a full disk, a permission change).

    The earlier checkpoints stand: orbax renames a step into place only when complete.
    """


class SignalError(ValueError):
    """A sampler was handed signals that lack what its round needs (or of the wrong shape)."""


class UserCodeError(RuntimeError):
    """Code the user brought (a model, a method, a config file) raised an exception.

    ``main`` prints one line naming ``what`` (e.g. ``model 'pkg.mod:Net'``), the exception's
    type and message and the ``file:line`` in the user's code where it was raised; the full
    traceback goes to the workdir's ``error.log`` (or the console with ``LGL_SPL_TRACEBACK=1``).
    ``__cause__`` is the original exception.
    """

    def __init__(self, what: str, error: BaseException):
        self.what, self.error = what, error
        self.where = user_frame(error)
        message = (str(error).strip().splitlines() or [""])[0]
        at = f" at {self.where}" if self.where else ""
        super().__init__(f"{what} raised {type(error).__name__}: {message}{at}".rstrip(": "))


def user_frame(error: BaseException) -> str | None:
    """``file:line`` of the innermost frame of ``error``'s traceback that is the user's code:
    outside this package, the standard library and installed packages (jax, flax, …)."""
    import os
    import sysconfig
    import traceback

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    libraries = {
        os.path.abspath(sysconfig.get_paths()[k]) + os.sep
        for k in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = os.path.abspath(frame.filename)
        if frame.filename.startswith("<") or path.startswith(package):
            continue
        if any(path.startswith(lib) for lib in libraries) or "site-packages" in path:
            continue
        if not os.path.isfile(path):  # a compiled extension's source name (numpy's .pyx)
            continue
        found = f"{os.path.relpath(path) if path.startswith(os.getcwd()) else path}:{frame.lineno}"
    return found


ERROR_LOG = "error.log"


def write_error_log(workdir: str, error: BaseException) -> str | None:
    """Append ``error``'s full traceback (its causes included) to ``workdir/error.log``;
    the file's path, or None when it cannot be written."""
    import os
    import time
    import traceback

    path = os.path.join(workdir, ERROR_LOG)
    text = "".join(traceback.format_exception(error))
    try:
        with open(path, "a") as f:
            f.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')}, process {os.getpid()}\n{text}\n")
    except OSError:
        return None
    return path

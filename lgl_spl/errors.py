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

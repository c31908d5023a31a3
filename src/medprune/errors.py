"""The error types a user can meet; the CLI turns each into one line and exit code 2."""


class MedpruneError(Exception):
    """Base of every error caused by user input (files, names, options)."""


class UnknownNameError(MedpruneError, KeyError):
    """A registered name (model, dataset, method) that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(MedpruneError):
    """A dataset that is missing, corrupt or inconsistent."""


class CheckpointError(MedpruneError):
    """A model file that cannot be read or does not match its architecture."""


class ConfigError(MedpruneError):
    """An option or setting outside its allowed range."""

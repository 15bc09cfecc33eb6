"""Errors the CLI turns into one line on stderr and exit code 2."""


class UsageError(Exception):
    """A problem with what the user asked for (missing dir, bad value, missing file)."""


class DataError(UsageError):
    """The dataset on disk is not in the DeepFashion layout or is inconsistent."""

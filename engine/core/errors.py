"""The one error every layer raises for a refused action or bad input (the CLI exits 2 with its
message). It lives here, below everything, so that the lowest modules (user names, files) can
raise it without importing the long-work machinery of :mod:`engine.core.tasks`."""


class RefusedError(Exception):
    """A refused action or bad input: the CLI exits 2 with this message."""

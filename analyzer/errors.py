"""Errors the library raises for the user to read; the CLI shows their message without a traceback."""


class PlanError(Exception):
    """A problem the user can fix: the message says what happened and what to do."""


class InputError(PlanError):
    """Input that cannot be read: names the file, the line when known, and the reason."""

    def __init__(self, path, reason, line=None):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

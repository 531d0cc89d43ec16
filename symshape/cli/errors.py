"""How the command fails: one message and an exit status."""

from __future__ import annotations

from ..errors import SymshapeError

#: Exit codes.
OK, FAILED, USAGE = 0, 1, 2


class CliError(SymshapeError):
    """An error the command explains in one message (no traceback unless --debug)."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code

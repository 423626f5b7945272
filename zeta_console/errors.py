"""Errors that reach the user as one clear line and an exit status, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad flag, bad file, unreachable host).

    The CLI prints ``str(error)`` on one line to stderr and exits with ``exit_code``.
    """

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

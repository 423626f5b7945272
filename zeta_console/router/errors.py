"""The errors a routed request ends with beyond a single backend's: refused or shed, or failed everywhere it was tried."""

from __future__ import annotations

from zeta_console.backends.types import BackendError
from zeta_console.router.api import ErrorKind


class RejectedError(BackendError):
    """No endpoint can take the request (nothing capable, all drained, unknown target), or it was
    shed (kind BUSY: the queue is full or the wait too long; `retry_after_s` says when to retry)."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.UNAVAILABLE, retry_after_s: float | None = None) -> None:
        super().__init__(kind, message)
        self.retry_after_s = retry_after_s

    @property
    def shed(self) -> bool:
        return self.kind is ErrorKind.BUSY


class AttemptsFailed(BackendError):
    """A request that failed on several endpoints: its message names each and why; its kind and
    status are the last failure's (`last`)."""

    def __init__(self, tried: dict[str, BackendError]) -> None:
        self.tried = dict(tried)
        self.last = list(tried.values())[-1]
        super().__init__(self.last.kind, "; ".join(f"{endpoint}: {error.message}" for endpoint, error in tried.items()), self.last.status)


def gave_up(tried: dict[str, BackendError], last: BackendError) -> BackendError:
    """The error of a request that stops trying: its only failure, or every endpoint tried and why."""
    return AttemptsFailed(tried) if len(tried) > 1 else last

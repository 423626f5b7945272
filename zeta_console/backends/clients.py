"""What every backend module needs around its client library: one client per event loop, and the
root cause of a transport failure in a few words."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

Client = TypeVar("Client")


class PerLoop(Generic[Client]):
    """One client per event loop: an async client's connections belong to the loop that opened them."""

    def __init__(self, make: Callable[[], Client]) -> None:
        self._make = make
        self._clients: dict[asyncio.AbstractEventLoop, Client] = {}

    def get(self) -> Client:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for stale in [other for other in self._clients if other.is_closed()]:
                del self._clients[stale]
            client = self._make()
            self._clients[loop] = client
        return client

    def pop(self) -> Client | None:
        """The running loop's client, forgotten (the caller closes it); clients of other loops die with their loop."""
        return self._clients.pop(asyncio.get_running_loop(), None)


def causes(error: BaseException) -> list[BaseException]:
    """`error` and what caused it, outermost first."""
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def describe_transport_error(error: BaseException) -> str:
    """The root cause in a few words ("connection refused", "peer closed connection without sending
    complete message body"), not a client's generic wrapper text ("Connection error.")."""
    deepest = str(error) or type(error).__name__
    for cause in causes(error):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        deepest = str(cause) or deepest
    return deepest

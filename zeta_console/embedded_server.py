"""uvicorn inside an existing event loop, with its signal handling disabled.

The owner of the loop (the console, `serve`, a test, the emulator) decides when to stop; both
the emulator and the `serve` endpoint run this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn as a task of the caller's loop; `startup_finished` is set once it listens (or failed to)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_finished = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the loop's owner handles signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.startup_finished.set()

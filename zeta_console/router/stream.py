"""`RoutedStream`: what `router.chat()` / `router.generate()` return, an async iterator of the upstream chunks."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from zeta_console.backends.types import Delta
from zeta_console.router.api import Decision, RequestRecord
from zeta_console.router.run import RequestRun


class RoutedStream:
    """The answer to one routed chat/generate: iterate it, or `aclose()` it to cancel."""

    def __init__(self, run: RequestRun) -> None:
        self._run = run
        self._chunks: AsyncGenerator[Delta, None] = run.stream()
        self._started = False

    @property
    def request_id(self) -> str:
        return self._run.state.request_id

    @property
    def decision(self) -> Decision | None:
        """The decision in force; it changes when the request fails over before its first token."""
        return self._run.state.decision

    @property
    def record(self) -> RequestRecord | None:
        """The RequestRecord, once the request has finished."""
        return self._run.state.record

    def __aiter__(self) -> AsyncIterator[Delta]:
        # `async for` iterates the generator itself: no extra call per chunk.
        self._started = True
        return self._chunks

    async def __anext__(self) -> Delta:
        self._started = True
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        if not self._started:  # never iterated: the generator's own `finally` will not run
            self._started = True
            self._run.finish()
        await self._chunks.aclose()

    async def __aenter__(self) -> RoutedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

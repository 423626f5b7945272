"""`RoutedStream`: what `router.chat()` / `router.generate()` / `router.relay()` return, an async
iterator of the upstream's pieces (backend deltas, or relayed bytes)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Generic

from zeta_console.router.api import Decision, RequestRecord
from zeta_console.router.run import P, RequestRun, StreamOpener


class RoutedStream(Generic[P]):
    """The answer to one routed chat/generate: iterate it, or `aclose()` it to cancel."""

    def __init__(self, run: RequestRun, open_stream: StreamOpener[P], whole: bool = False) -> None:
        self._run = run
        self._chunks: AsyncGenerator[P, None] = run.stream(open_stream, whole)
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

    def __aiter__(self) -> AsyncIterator[P]:
        # `async for` iterates the generator itself: no extra call per chunk.
        self._started = True
        return self._chunks

    async def __anext__(self) -> P:
        self._started = True
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        if not self._started:  # never iterated: the generator's own `finally` will not run
            self._started = True
            self._run.finish()
        await self._chunks.aclose()

    async def __aenter__(self) -> RoutedStream[P]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

"""Real llama.cpp servers of the real tiny model, shared across the whole test session.

`llama_servers.shared(alias, ...)` starts a server once per session and hands the same one to every
test that asks for the same options (loading takes ~0.6 s, and two cores are shared); a test that
kills, stalls or fills a server asks `llama_servers.own(...)` for one of its own, stopped when the
test ends. The model is fetched once per machine into the user's cache (`tiny_model`). `filled`
loads a server with requests of its own, straight to it (not through any router).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from zeta_console.realfleet.llama_server import LlamaServer, LlamaServerOptions
from zeta_console.realfleet.tiny_model import ensure_model


class LlamaServers:
    def __init__(self, model: Path, logs: Path) -> None:
        self.model = model
        self._logs = logs
        self._shared: dict[LlamaServerOptions, LlamaServer] = {}
        self._owned: list[LlamaServer] = []

    def _start(self, options: LlamaServerOptions) -> LlamaServer:
        server = LlamaServer(options, log_path=self._logs / f"{options.alias}-{len(self._shared) + len(self._owned)}.log")
        server.start()
        return server

    def options(self, alias: str, **kwargs: object) -> LlamaServerOptions:
        return LlamaServerOptions(model=self.model, alias=alias, **kwargs)  # type: ignore[arg-type]  # forwarded keywords

    def shared(self, alias: str, **kwargs: object) -> LlamaServer:
        options = self.options(alias, **kwargs)
        if options not in self._shared:
            self._shared[options] = self._start(options)
        return self._shared[options]

    def own(self, alias: str, **kwargs: object) -> LlamaServer:
        server = self._start(self.options(alias, **kwargs))
        self._owned.append(server)
        return server

    def stop_owned(self) -> None:
        while self._owned:
            self._owned.pop().stop()

    def stop_all(self) -> None:
        self.stop_owned()
        for server in self._shared.values():
            server.stop()


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return ensure_model()


@pytest.fixture(scope="session")
def _llama_session(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServers]:
    servers = LlamaServers(tiny_model, tmp_path_factory.mktemp("llama-logs"))
    yield servers
    servers.stop_all()


@pytest.fixture
def llama_servers(_llama_session: LlamaServers) -> Iterator[LlamaServers]:
    yield _llama_session
    _llama_session.stop_owned()


async def slot_busy(url: str) -> bool:
    """Whether the server is generating, by its `/slots` (asked without blocking the event loop the router runs in)."""
    async with httpx.AsyncClient(timeout=5) as client:
        return any(slot["is_processing"] for slot in (await client.get(f"{url}/slots")).json())


async def slot_idle(url: str) -> bool:
    return not await slot_busy(url)


@asynccontextmanager
async def filled(url: str, requests: int, max_tokens: int = 48) -> AsyncIterator[list[asyncio.Task[httpx.Response]]]:
    """`requests` chats sent straight to a llama.cpp server at once, each generating exactly
    `max_tokens` tokens (as other clients of the server would); cancelled on the way out, which
    frees the slot."""
    body = {"messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": max_tokens, "ignore_eos": True}
    async with httpx.AsyncClient(timeout=120) as client:
        tasks = [asyncio.create_task(client.post(f"{url}/v1/chat/completions", json=body)) for _ in range(requests)]
        try:
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

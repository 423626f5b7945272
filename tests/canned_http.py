"""A loopback HTTP server (uvicorn) answering each path with a status and a text the test sets:
for servers the project cannot run here (vLLM, SGLang), fed texts in their real formats."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.helpers import wait_until


class Canned:
    """A loopback HTTP server answering each path with a status and a text the test sets."""

    def __init__(self) -> None:
        self.replies: dict[str, tuple[int, str]] = {}
        self.asked: list[str] = []
        self.url = ""

    async def _reply(self, request: Request) -> Response:
        self.asked.append(request.url.path)
        status, text = self.replies.get(request.url.path, (404, "404 page not found"))
        return PlainTextResponse(text, status_code=status, media_type="application/json" if text.startswith("{") else "text/plain")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Canned]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=[Route("/{path:path}", self._reply)])
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await wait_until(lambda: server.started, message="the canned server")
        try:
            yield self
        finally:
            server.should_exit = True
            await task

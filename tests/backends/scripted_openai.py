"""A real HTTP server on loopback that answers each OpenAI request with the reply scripted for its
`model` (a GET: for its path): an error status with a body, or an SSE stream of given events that ends with `[DONE]`, with
nothing, or with a cut connection (no last chunk of the chunked body). For what a small real model
never does on demand: reasoning deltas, tool calls, 429s, error events, truncated streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Status:
    status: int
    body: Any  # JSON, or text sent as is


@dataclass(frozen=True)
class Events:
    events: Sequence[Any]  # each one `data: <json>` event
    end: Literal["done", "eof", "cut"] = "done"


@dataclass(frozen=True)
class Stall:
    """Read the request, never answer."""


@dataclass(frozen=True)
class Hangup:
    """Read the request, close the connection without a byte of answer."""


Reply = Status | Events | Stall | Hangup


@dataclass
class ScriptedServer:
    replies: dict[str, Reply | list[Reply]] = field(default_factory=dict)  # a list: one reply per request, in order
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = next((int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.lower().startswith("content-length:")), 0)
            request = json.loads(await reader.readexactly(length)) if length else {}
            self.requests.append(request)
            self.paths.append(head.split(" ", 2)[1])
            lines = head.split("\r\n")
            self.authorizations += [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("authorization:")]
            reply = self.replies[request.get("model") or self.paths[-1]]  # a GET is scripted by its path
            if isinstance(reply, list):
                reply = reply.pop(0)
            if isinstance(reply, Stall):
                await asyncio.Event().wait()
            if isinstance(reply, Hangup):
                return
            if isinstance(reply, Status):
                body = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
                kind = "text/plain" if isinstance(reply.body, str) else "application/json"
                writer.write(f"HTTP/1.1 {reply.status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                             "Connection: close\r\n\r\n".encode() + body)
            elif isinstance(reply, Events):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                texts = [f"data: {json.dumps(event)}\n\n" for event in reply.events]
                texts += ["data: [DONE]\n\n"] if reply.end == "done" else []
                for text in texts:
                    data = text.encode()
                    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                if reply.end != "cut":
                    writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One chat.completion.chunk; `delta=None` gives the usage-only chunk (`choices: []`)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra}

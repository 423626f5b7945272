"""Raw ASGI replies for the inference endpoints: headers only once the first line exists,
one flush per NDJSON line, cancellation on client disconnect, and cut connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from zeta_console.ollama_api.errors import ApiError
from zeta_console.sim.generation import DropConnection, MidStreamFailure
from zeta_console.sim.service import JsonReply, Reply, StreamReply
from zeta_console.sim.wire import encode, ndjson_line

JSON_TYPE = b"application/json; charset=utf-8"
DROP_GRACE_S = 1.0  # after cutting a socket, the disconnect notice cancels us well within this

ConnectionCutter = Callable[[Scope], None]
ReplyMaker = Callable[[bytes], Awaitable[Reply]]
ErrorPayload = Callable[[int, str], dict[str, Any]]


def ollama_error(status: int, message: str) -> dict[str, Any]:
    return {"error": message}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = encode(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", JSON_TYPE), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_stream(send: Send, reply: StreamReply) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", reply.content_type)]})
    await send({"type": "http.response.body", "body": reply.first_line, "more_body": True})
    async with contextlib.aclosing(reply.rest):  # type: ignore[type-var]  # an async generator, typed as its iterator
        try:
            async for line in reply.rest:
                await send({"type": "http.response.body", "body": line, "more_body": True})
        except MidStreamFailure as failure:
            await send({"type": "http.response.body", "body": ndjson_line({"error": str(failure)}), "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _cancel_on_disconnect(work: Awaitable[None], receive: Receive) -> None:
    """Run `work`; if the client goes away first, cancel it (Ollama stops at the next token)."""
    current = asyncio.current_task()
    assert current is not None
    disconnected = False

    async def watch() -> None:
        nonlocal disconnected
        while (await receive())["type"] != "http.disconnect":
            pass
        disconnected = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await work
    except asyncio.CancelledError:
        if not disconnected:
            raise
        current.uncancel()
    finally:
        watcher.cancel()


class InferenceEndpoint:
    """An ASGI app for chat/generate/embed: `make_reply(body)` does the work; errors map to Ollama's
    (`{"error": message}`, or the route's own envelope)."""

    def __init__(self, make_reply: ReplyMaker, cut_connection: ConnectionCutter, error: ErrorPayload = ollama_error) -> None:
        self._make_reply = make_reply
        self._cut_connection = cut_connection
        self._error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        await _cancel_on_disconnect(self._respond(scope, send, body), receive)

    async def _respond(self, scope: Scope, send: Send, body: bytes) -> None:
        try:
            reply = await self._make_reply(body)
            if isinstance(reply, JsonReply):
                await send_json(send, 200, reply.payload)
            else:
                await _send_stream(send, reply)
        except ApiError as error:
            await send_json(send, error.status, self._error(error.status, error.message))
        except DropConnection:
            self._cut_connection(scope)
            await asyncio.sleep(DROP_GRACE_S)

"""ASGI responses that carry a routed request from the router to the client.

Headers wait for the first chunk (the router fails over before it), so a failure before the
first token is a proper error response with its status; after it, an error is one extra
line or event in the client's dialect and no `done` chunk (ollama-api.md §2.4). A client that disconnects, at any point,
cancels the routed request, which closes the upstream stream and frees its slot. A request the
server cuts when it stops ends the same way (`EndCutReplies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeta_console.backends.types import BackendError, ErrorKind
from zeta_console.router.api import Chunk, Decision, EmbedResult, RelayedReply, RoutedPieces
from zeta_console.router.errors import RejectedError
from zeta_console.serve.envelope import OLLAMA, Envelope, envelope_for
from zeta_console.serve.replies import decision_headers
from zeta_console.serve.security import send_json_error

JSON = b"application/json; charset=utf-8"
SHUTTING_DOWN = "server shutting down"


Taken = TypeVar("Taken", contravariant=True)


class Wire(Protocol[Taken]):
    """How one routed answer is written in the client's dialect (Ollama's NDJSON, OpenAI's SSE), from
    backend deltas or from bytes relayed as they came (`passthrough.OllamaRawWire`)."""

    @property
    def envelope(self) -> Envelope: ...
    def chunk(self, piece: Taken) -> bytes: ...  # streaming: what one piece becomes (maybe several events)
    def end(self) -> bytes: ...  # streaming: what follows the last piece
    def add(self, piece: Taken) -> None: ...  # not streaming: collect the answer
    def reply(self) -> bytes: ...  # not streaming: the one JSON object


def failure_status(error: BackendError) -> int:
    """The status a client sees when routing failed before any byte of the answer was sent."""
    if isinstance(error, RejectedError) or error.kind is ErrorKind.BUSY:
        return 503  # nothing can take it now (drained, ejected, saturated, queue full)
    if error.kind is ErrorKind.BAD_REQUEST:
        return error.status if error.status and 400 <= error.status < 500 else 400
    if error.kind is ErrorKind.TIMED_OUT:
        return 504
    if error.kind is ErrorKind.SERVER_ERROR and error.status and error.status >= 500:
        return error.status
    if error.kind is ErrorKind.FAILED_MID_STREAM:
        return 500  # Ollama's answer to a non-streaming request that fails mid-generation
    return 502  # the model behind us is missing or unreachable


def last_endpoint(decision: Decision | None) -> str | None:
    """Where the request went last: once every candidate failed, the router's last decision chose
    none and the endpoints that failed are its fallbacks."""
    return (decision.chosen or next(reversed(decision.fallbacks), None)) if decision else None


def failure_message(error: BackendError, decision: Decision | None, upstream_urls: Mapping[str, str]) -> str:
    """The error text; when the upstream failed or timed out, it names the host (and endpoint) that did."""
    endpoint = last_endpoint(decision)
    if endpoint is None or failure_status(error) not in (502, 504):
        return error.message
    return f"upstream {upstream_urls.get(endpoint, '?')} ({endpoint}): {error.message}"


Headers = list[tuple[bytes, bytes]]  # ASGI header pairs


async def _send_failure(send: Send, error: BackendError, message: str, envelope: Envelope, headers: Headers | None = None) -> None:
    """The error response; a 503 says when to retry, in whole seconds: the router's estimate when it
    shed the request, at least 1."""
    status = failure_status(error)
    if status == 503:
        estimate_s = error.retry_after_s if isinstance(error, RejectedError) and error.retry_after_s is not None else 0.0
        headers = [*(headers or []), (b"retry-after", str(max(1, math.ceil(estimate_s))).encode())]
    await send_json_error(send, status, message, headers, envelope)


def _start(status: int, content_type: bytes, headers: Headers) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type), *headers]}


class CancelOnDisconnect:
    """Runs `respond(send)` and cancels it as soon as the client goes away.

    Only for use after the request body has been read: from then on `receive()` returns
    nothing but the disconnect.
    """

    def __init__(self, respond: Callable[[Send], Awaitable[None]]) -> None:
        self._respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        work = asyncio.ensure_future(self._respond(send))
        watcher = asyncio.ensure_future(self._until_disconnect(receive))
        try:
            await asyncio.wait((work, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):  # the client is gone: nobody to answer
                await work

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass


def stream_response(
    open_stream: Callable[[], RoutedPieces[Chunk]], wire: Wire[Chunk], stream: bool, upstream_urls: Mapping[str, str]
) -> CancelOnDisconnect:
    """`upstream_urls`: endpoint id -> its host's URL, to name the host in a failure."""

    async def respond(send: Send) -> None:
        routed = open_stream()
        try:
            try:
                first = await anext(routed)
            except BackendError as error:
                await _send_failure(send, error, failure_message(error, routed.decision, upstream_urls), wire.envelope)
                return
            except StopAsyncIteration:
                await send_json_error(send, 502, "the model sent no reply", envelope=wire.envelope)
                return
            headers = decision_headers(routed.decision) if routed.decision else []
            if stream:
                await _relay(send, routed, first, wire, headers)
            else:
                await _aggregate(send, routed, first, wire, headers)
        finally:
            await routed.aclose()

    return CancelOnDisconnect(respond)


# The piece with `final` is the answer's last (`RawChunk`, `Delta`): the reply ends with it, and the
# router's bookkeeping after it (the attempt's success, the record, metrics, feedback, the journal's
# queue) runs once the client has the whole reply (`_finish`), not before it.


async def _relay(send: Send, routed: RoutedPieces[Chunk], first: Chunk, wire: Wire[Chunk], headers: Headers) -> None:
    await send(_start(200, wire.envelope.stream_type, headers))
    pieces, piece = aiter(routed), first
    try:
        while piece.final is None:
            await send({"type": "http.response.body", "body": wire.chunk(piece), "more_body": True})
            piece = await anext(pieces)
    except BackendError as error:
        await send({"type": "http.response.body", "body": wire.envelope.stream_error(error.message), "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.body", "body": wire.chunk(piece) + wire.end()})
    await _finish(pieces)


async def _aggregate(send: Send, routed: RoutedPieces[Chunk], first: Chunk, wire: Wire[Chunk], headers: Headers) -> None:
    pieces, piece = aiter(routed), first
    wire.add(piece)
    try:
        while piece.final is None:
            piece = await anext(pieces)
            wire.add(piece)
    except BackendError as error:
        await _send_failure(send, error, error.message, wire.envelope, headers)
        return
    await send(_start(200, JSON, headers))
    await send({"type": "http.response.body", "body": wire.reply()})
    await _finish(pieces)


async def _finish(pieces: AsyncIterator[Chunk]) -> None:
    """Let the router end the request it answered: nothing follows the final piece. This does not yield
    to the loop (the upstream response is already closed), so the disconnect uvicorn's `receive()` reports
    once a reply is complete cannot cancel it (`CancelOnDisconnect`)."""
    await anext(pieces, None)


class Answered(Protocol):
    @property
    def decision(self) -> Decision: ...


Result = TypeVar("Result", bound=Answered)


def embed_response(
    embed: Callable[[], Awaitable[Result]], shape: Callable[[Result], bytes], envelope: Envelope = OLLAMA
) -> CancelOnDisconnect:
    async def respond(send: Send) -> None:
        try:
            result = await embed()
        except BackendError as error:
            await _send_failure(send, error, error.message, envelope)
            return
        await send(_start(200, JSON, decision_headers(result.decision)))
        await send({"type": "http.response.body", "body": shape(result)})

    return CancelOnDisconnect(respond)


def relayed_reply(result: RelayedReply) -> bytes:
    return result.reply.body


def legacy_embedding_reply(result: EmbedResult) -> bytes:
    embeddings = result.response.embeddings
    return json.dumps({"embedding": list(embeddings[0]) if embeddings else []}).encode()


class EndCutReplies:
    """Outermost ASGI wrapper: a request cut when the server stops still gets a proper ending.

    uvicorn cancels the requests still running when its shutdown grace ends. Unhandled, that
    cancellation became a traceback and a text/plain 500, or a stream that stopped with neither
    `done` nor an error. Here the cancellation has already closed the routed stream on its way
    out (the router records the request as cancelled); the reply then ends in Ollama's terms:
    a 503 JSON error if nothing was sent yet, an error line if a stream had started.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reply = _ReplyProgress(send, envelope_for(scope["path"]))
        try:
            await self.app(scope, receive, reply.send)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # handled: only the server's shutdown cancels a request's task
            await reply.end_cut()


class _ReplyProgress:
    """How far a reply got: not started, streaming, or finished."""

    def __init__(self, send: Send, envelope: Envelope) -> None:
        self._send = send
        self._envelope = envelope
        self.started = False
        self.streaming = False
        self.finished = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.streaming = (b"content-type", self._envelope.stream_type) in message.get("headers", ())
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def end_cut(self) -> None:
        if self.finished:
            return
        if not self.started:
            await send_json_error(self._send, 503, SHUTTING_DOWN, envelope=self._envelope)
            return
        if self.streaming:
            await self._send({"type": "http.response.body", "body": self._envelope.stream_error(SHUTTING_DOWN), "more_body": True})
        await self._send({"type": "http.response.body", "body": b""})

"""Pass-through: an Ollama-dialect request relayed to an Ollama host as bytes.

When the client and the host speak the same dialect, converting every chunk into objects and back
costs most of the proxy's CPU. Here the router still decides, admits, fails over and records (the
request runs through `router.relay` / `router.relay_embed`), but the bytes go over httpcore2,
httpx2's transport layer, directly (not the `ollama` client: this is serve's byte path only) and
come back as they were written. What is read of them is only what routing needs: where each NDJSON line ends
(the first line is the first token), the `done` line's statistics, an `{"error": ...}` line. The
one change is the model's name: the body sent upstream names the endpoint's model, and each reply
line's leading `{"model":"<endpoint model>"` becomes the name the client asked for (Ollama writes
`model` first: a prefix replacement, no parsing).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import httpcore2
from pydantic_core import from_json, to_json

from zeta_console.backends.clients import describe_transport_error
from zeta_console.backends.ollama import map_error
from zeta_console.backends.types import (
    BackendError,
    Delta,
    Embeddings,
    ErrorKind,
    FinalTimings,
    RawChunk,
    RawReply,
    RawStream,
    kind_for_status,
)
from zeta_console.router.api import Relay, RelayEmbed, Upstream
from zeta_console.serve.envelope import OLLAMA
from zeta_console.serve.replies import Shape, embed_json, ndjson_line
from zeta_console.serve.upstream_sockets import KeptAlive
from zeta_console.settings import Timeouts

NS = 1e-9
Headers = list[tuple[bytes, bytes]]
HEADERS: Headers = [(b"Content-Type", b"application/json"), (b"Accept", b"application/x-ndjson")]
ERROR_LINE = b'{"error"'
DONE = b'"done":true'
_EMBED_STATS = re.compile(rb'"(total_duration|load_duration|prompt_eval_count)":(\d+)')
PATHS = {Shape.CHAT: "/api/chat", Shape.GENERATE: "/api/generate"}
Piece = TypeVar("Piece")


def model_prefix(model: str) -> bytes:
    """How every Ollama reply begins: its `model` field, written first."""
    return b'{"model":' + json.dumps(model, ensure_ascii=False).encode() + b","


def renamed(block: bytes, old: bytes, new: bytes) -> bytes:
    """Complete NDJSON lines with each line's leading model field replaced (a line break can only
    start a line: JSON strings escape theirs)."""
    if block.startswith(old):
        block = new + block[len(old) :]
    return block.replace(b"\n" + old, b"\n" + new) if b"\n" + old in block else block


def final_timings(stats: Mapping[str, Any]) -> FinalTimings:
    """The statistics of Ollama's `done` line (or an embed reply), in seconds."""

    def seconds(name: str) -> float | None:
        value = stats.get(name)
        return value * NS if isinstance(value, int) else None

    prompt, output = stats.get("prompt_eval_count"), stats.get("eval_count")
    return FinalTimings(
        total_s=seconds("total_duration"),
        load_s=seconds("load_duration"),
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        prefill_s=seconds("prompt_eval_duration"),
        output_tokens=output if isinstance(output, int) else None,
        decode_s=seconds("eval_duration"),
        done_reason=stats.get("done_reason"),
    )


def error_text(body: bytes) -> str:
    """The message of an `{"error": ...}` body (Ollama's string, or OpenAI's object's `message`), or
    the body itself (as the official clients read it)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip()
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])
    return str(error) if error is not None else body.decode("utf-8", "replace").strip()


def _error_line_at(block: bytes) -> int:
    """Where an `{"error": ...}` line starts in a block of lines, or -1."""
    if block.startswith(ERROR_LINE):
        return 0
    at = block.find(b"\n" + ERROR_LINE)
    return at + 1 if at >= 0 else -1


def _final_of(block: bytes) -> FinalTimings | None:
    """The statistics when the block's last line is the `done` line."""
    last = block[block.rfind(b"\n", 0, len(block) - 1) + 1 :]
    if DONE not in last:
        return None
    parsed = from_json(last)
    return final_timings(parsed) if isinstance(parsed, dict) and parsed.get("done") is True else None


def transport_error(error: Exception, mid_stream: bool) -> BackendError:
    """A failure of httpcore2 (httpx2's transport layer) in the router's terms, as the backend maps httpx's."""
    if isinstance(error, httpcore2.TimeoutException):
        return BackendError(ErrorKind.TIMED_OUT, f"{type(error).__name__}: {error}".rstrip(": "))
    if isinstance(error, (httpcore2.NetworkError, httpcore2.ProtocolError)):
        return BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.UNAVAILABLE, describe_transport_error(error))
    return map_error(error, mid_stream=mid_stream)


class OllamaPassThrough:
    """Carries requests to Ollama hosts as bytes: one set of kept-alive httpcore2 connections per app
    (`upstream_sockets.KeptAlive`: one send per request, a cheap idle check, no walk over the pool)."""

    def __init__(self, timeouts: Timeouts) -> None:
        # The router enforces first-token, idle and total deadlines itself; these are backstops, as
        # in the backend.
        self._extensions = {
            "timeout": {"connect": timeouts.connect_s, "read": timeouts.total_s, "write": timeouts.connect_s, "pool": timeouts.total_s}
        }
        self._pool = KeptAlive()
        self._targets: dict[str, tuple[httpcore2.URL, bytes]] = {}

    async def aclose(self) -> None:
        await self._pool.aclose()

    def stream(self, shape: Shape, fields: Mapping[str, Any], asked_model: str, whole: bool) -> Relay:
        """How the router reaches one endpoint for this chat or generate; `whole`: the client asked for
        no stream, so upstream answers in one object too (no lines to cut, parse and merge)."""
        return _ChatRelay(self, shape, fields, asked_model, whole)

    def send(self, path: str, fields: Mapping[str, Any], asked_model: str) -> RelayEmbed:
        """How the router reaches one endpoint for this embedding."""
        return _EmbedRelay(self, path, fields, asked_model)

    async def open(self, url: str, body: bytes, headers: Headers) -> httpcore2.Response:
        """The upstream's response to a POST, its body not read yet (httpx2's transport layer)."""
        target = self._targets.get(url)
        if target is None:  # parsed once per URL, not per request
            parsed = httpcore2.URL(url)
            target = self._targets[url] = (parsed, parsed.host if parsed.port is None else b"%b:%d" % (parsed.host, parsed.port))
        sent = [(b"Host", target[1]), *headers, (b"Content-Length", b"%d" % len(body))]
        request = httpcore2.Request(b"POST", target[0], headers=sent, content=body, extensions=self._extensions)
        return await self._pool.send(request)

    async def exchange(
        self, url: str, body: bytes, headers: Headers, read: Callable[[httpcore2.Response], AsyncGenerator[Piece, None]]
    ) -> AsyncGenerator[Piece, None]:
        """POST `body` and yield what `read` makes of a 200 reply as it comes; no I/O until the first is
        awaited. Another status is a `BackendError` with the body's message, a transport failure one in
        the router's terms (failed mid-stream once a piece went out). Closing it closes the
        connection, which makes the server stop generating and free the slot."""
        mid_stream = False
        response: httpcore2.Response | None = None
        try:
            response = await self.open(url, body, headers)
            if response.status != 200:
                raise BackendError(kind_for_status(response.status), error_text(await response.aread()), response.status)
            async with contextlib.aclosing(read(response)) as pieces:
                async for piece in pieces:
                    yield piece
                    mid_stream = True
        except BackendError:
            raise
        except Exception as error:
            raise transport_error(error, mid_stream) from error
        finally:
            if response is not None:
                await response.aclose()

    async def whole(self, url: str, body: bytes, headers: Headers) -> bytes:
        """The body of a 200 reply (`exchange`'s errors otherwise)."""
        async with contextlib.aclosing(self.exchange(url, body, headers, _body)) as replies:
            return await anext(replies)

    def lines(self, url: str, body: bytes, old: bytes, new: bytes) -> RawStream:
        """The upstream reply as blocks of complete lines, renamed (`exchange`)."""

        async def read(response: httpcore2.Response) -> RawStream:
            async for block in line_blocks(response.aiter_stream()):
                answer, error = _split(renamed(block, old, new))
                if answer is not None:
                    yield answer
                if error is not None:
                    raise error

        return self.exchange(url, body, HEADERS, read)


class _ChatRelay:
    apis = frozenset({"ollama"})

    def __init__(self, carrier: OllamaPassThrough, shape: Shape, fields: Mapping[str, Any], asked_model: str, whole: bool) -> None:
        self._carrier, self._path, self._fields = carrier, PATHS[shape], fields
        self._shape, self._asked_model, self._new = shape, asked_model, model_prefix(asked_model)
        self.whole = whole

    async def open(self, upstream: Upstream) -> RawStream:
        url, old = upstream.url + self._path, model_prefix(upstream.model)
        if not self.whole:
            return self._carrier.lines(url, body_for(self._fields, upstream.model, stream=True), old, self._new)

        async def read_whole(response: httpcore2.Response) -> RawStream:
            body = await response.aread()
            yield RawChunk(renamed(body, old, self._new), _final_of(body))  # not `done`: the router fails it

        return self._carrier.exchange(url, body_for(self._fields, upstream.model, stream=False), HEADERS, read_whole)

    def translator(self) -> Callable[[Delta], RawChunk]:
        """An endpoint of another dialect: its deltas as the lines Ollama would have written."""
        asked_model, shape = self._asked_model, self._shape
        return lambda delta: RawChunk(ndjson_line(delta, asked_model, shape), delta.final)


class _EmbedRelay:
    apis = frozenset({"ollama"})

    def __init__(self, carrier: OllamaPassThrough, path: str, fields: Mapping[str, Any], asked_model: str) -> None:
        self._carrier, self._path, self._fields = carrier, path, fields
        self._asked_model, self._new = asked_model, model_prefix(asked_model)

    async def send(self, upstream: Upstream) -> RawReply:
        body = await self._carrier.whole(upstream.url + self._path, body_for(self._fields, upstream.model, stream=None), HEADERS)
        stats = {name.decode(): int(value) for name, value in _EMBED_STATS.findall(body)}
        return RawReply(renamed(body, model_prefix(upstream.model), self._new), final_timings(stats))

    def translated(self, answer: Embeddings) -> RawReply:
        return RawReply(embed_json(answer, self._asked_model), answer.timings)


async def _body(response: httpcore2.Response) -> AsyncGenerator[bytes, None]:
    yield await response.aread()


async def line_blocks(stream: AsyncIterator[bytes], separator: bytes = b"\n") -> AsyncIterator[bytes]:
    """The bytes as they arrive, cut after their last complete line (or SSE event, with `separator`
    b"\n\n"); the rest waits for its end."""
    pending = b""
    async for data in stream:
        if pending:
            data, pending = pending + data, b""
        at = data.rfind(separator)
        end = at + len(separator) if at >= 0 else 0
        if end < len(data):
            data, pending = data[:end], data[end:]
        if data:
            yield data
    if pending:  # a last line without its line break
        yield pending


def _split(block: bytes) -> tuple[RawChunk | None, BackendError | None]:
    """A block of complete lines as the answer's next chunk and, when it holds an `{"error": ...}`
    line, that error: the lines before it are still relayed, nothing after it (Ollama ends there)."""
    at = _error_line_at(block)
    if at < 0:
        return RawChunk(block, _final_of(block)), None
    error = BackendError(ErrorKind.FAILED_MID_STREAM, error_text(block[at:].split(b"\n", 1)[0]))
    return (RawChunk(block[:at]) if at else None), error


def body_for(fields: Mapping[str, Any], model: str, stream: bool | None) -> bytes:
    sent = {name: value for name, value in fields.items() if name != "stream"}
    sent["model"] = model
    if stream is not None:
        sent["stream"] = stream
    return to_json(sent)


class OllamaRawWire:
    """Relayed lines go to the client as they came; for `stream: false` the single object is built
    from them as Ollama builds it: the `done` line with the text of every line concatenated and the
    tool calls merged (ollama-api.md §1.3, §1.4). The lines are already renamed, so the done
    line's `model` is the name asked."""

    envelope = OLLAMA

    def __init__(self, shape: Shape) -> None:
        self._chat = shape is Shape.CHAT
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[Any] = []
        self._last: dict[str, Any] = {}
        self._whole: bytes | None = None

    def chunk(self, piece: RawChunk) -> bytes:
        return piece.data

    def end(self) -> bytes:
        return b""

    def add(self, piece: RawChunk) -> None:
        if piece.final is not None and not self._last:  # the answer in one piece (a host asked for no stream): as it came
            self._whole = piece.data
            return
        # The block's lines parsed as one JSON array: one call, not one per line (a line break can
        # only end a line: JSON strings escape theirs); pydantic's parser is twice as fast as json's.
        for parsed in from_json(b"[%b]" % piece.data.rstrip(b"\n").replace(b"\n", b",")):
            text = (parsed.get("message") or {}) if self._chat else parsed
            self._content.append(text.get("content" if self._chat else "response") or "")
            self._thinking.append(text.get("thinking") or "")
            self._tool_calls.extend(text.get("tool_calls") or ())
            self._last = parsed

    def reply(self) -> bytes:
        if self._whole is not None:
            return self._whole
        last = self._last
        text: dict[str, Any] = dict(last.get("message") or {}) if self._chat else last
        text["content" if self._chat else "response"] = "".join(self._content)
        thinking = "".join(self._thinking)
        if thinking:
            text["thinking"] = thinking
        if self._tool_calls:
            text["tool_calls"] = self._tool_calls
        if self._chat:
            last["message"] = text
        return to_json(last)

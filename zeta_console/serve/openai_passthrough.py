"""Pass-through: an OpenAI-dialect request relayed to an `api: openai` host (llama.cpp, vLLM) as bytes.

The OpenAI twin of `passthrough.py`, on the same connection pool: the body sent upstream names the
endpoint's model, asks for the usage chunk (`stream_options.include_usage`: the request's token
counts, and llama.cpp's `timings`, come in it) and carries the host's key as a bearer token; the SSE
events come back as they were written, each `"model":"<endpoint model>"` replaced by the name the
client asked (a byte replacement of a known value). What is read of them: where each event ends
(the first is the first token), the usage event (the final statistics; dropped when the client did
not ask for it), the finish reason, an `{"error": ...}` event, `data: [DONE]`.
Only streamed answers are relayed: a whole chat completion is built from deltas by `OpenAIWire`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from pydantic_core import to_json

from zeta_console.backends.openai_usage import final_timings
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
from zeta_console.router.api import Upstream
from zeta_console.serve.envelope import OPENAI
from zeta_console.serve.openai_dialect import OpenAIWire
from zeta_console.serve.passthrough import OllamaPassThrough, error_text, line_blocks, transport_error

EVENT_END = b"\n\n"
DONE_EVENT = b"data: [DONE]"
USAGE = b'"usage":{'
ERROR_EVENT = b'data: {"error"'
FINISH = b'"finish_reason":"'
_FINISH_REASON = re.compile(rb'"finish_reason":"([^"]+)"')
_PROMPT_TOKENS = re.compile(rb'"prompt_tokens":(\d+)')

Headers = list[tuple[bytes, bytes]]


def model_field(model: str) -> bytes:
    return b'"model":' + json.dumps(model, ensure_ascii=False).encode()


def openai_headers(key: str, stream: bool) -> Headers:
    """What every request to an OpenAI-compatible host carries; the key, when the host has one."""
    accept = b"text/event-stream" if stream else b"application/json"
    return [(b"Content-Type", b"application/json"), (b"Accept", accept), *([(b"Authorization", b"Bearer " + key.encode())] if key else [])]


def _event_at(block: bytes, marker: bytes) -> tuple[int, int]:
    """The start and end of the event holding `marker` (which must be in the block)."""
    at = block.find(marker)
    before = block.rfind(EVENT_END, 0, at)
    start = before + len(EVENT_END) if before >= 0 else 0
    end = block.find(EVENT_END, at)
    return start, (end + len(EVENT_END) if end >= 0 else len(block))


def _usage_final(event: bytes, done_reason: str | None) -> FinalTimings:
    parsed = json.loads(event[event.index(b"{") :])
    usage = parsed.get("usage") if isinstance(parsed, dict) else None
    return final_timings(SimpleNamespace(**usage) if isinstance(usage, dict) else None, parsed.get("timings"), done_reason)


class OpenAIStreamRelay:
    """One streamed `/v1/chat/completions` or `/v1/completions`: relayed to OpenAI-compatible hosts,
    translated by a fresh `OpenAIWire` for the others."""

    api = "openai"

    def __init__(
        self, carrier: OllamaPassThrough, keys: Mapping[str, str], fields: Mapping[str, Any], asked_model: str, *,
        chat: bool, include_usage: bool,
    ) -> None:
        self._carrier, self._keys, self._fields = carrier, keys, fields
        self._asked_model, self._chat, self._include_usage = asked_model, chat, include_usage
        self._path = "/v1/chat/completions" if chat else "/v1/completions"
        self._new = model_field(asked_model)

    async def open(self, upstream: Upstream) -> RawStream:
        sent = {**self._fields, "model": upstream.model, "stream": True}
        sent["stream_options"] = {**(self._fields.get("stream_options") or {}), "include_usage": True}
        headers = openai_headers(self._keys.get(upstream.url, ""), stream=True)
        return self._events(upstream.url + self._path, to_json(sent), headers, model_field(upstream.model))

    def translator(self) -> Callable[[Delta], RawChunk]:
        wire = OpenAIWire(self._asked_model, chat=self._chat, include_usage=self._include_usage)

        def translate(delta: Delta) -> RawChunk:
            data = wire.chunk(delta)
            return RawChunk(data + wire.end(), delta.final) if delta.final is not None else RawChunk(data)

        return translate

    async def _events(self, url: str, body: bytes, headers: Headers, old: bytes) -> RawStream:
        """The upstream's SSE events in blocks of whole events, renamed; the block with `[DONE]` is
        the final piece. Closing it closes the connection: the server stops and frees the slot."""
        mid_stream, done_reason, final = False, None, None
        response = None
        try:
            response = await self._carrier.open(url, body, headers)
            if response.status != 200:
                raise BackendError(kind_for_status(response.status), error_text(await response.aread()), response.status)
            async for block in line_blocks(response.aiter_stream(), EVENT_END):
                error: str | None = None
                if ERROR_EVENT in block:
                    start, end = _event_at(block, ERROR_EVENT)
                    error = error_text(block[start + len(b"data: ") : end].strip())
                    block = block[:start]
                if FINISH in block:
                    found = _FINISH_REASON.search(block)
                    done_reason = found.group(1).decode() if found else done_reason
                if USAGE in block:
                    start, end = _event_at(block, USAGE)
                    final = _usage_final(block[start:end], done_reason)
                    if not self._include_usage:
                        block = block[:start] + block[end:]
                last = DONE_EVENT in block
                if old in block:
                    block = block.replace(old, self._new)
                if block or last:
                    yield RawChunk(block, (final or final_timings(None, None, done_reason)) if last else None)
                    mid_stream = True
                if error is not None:  # before any byte went out, another endpoint may still answer
                    raise BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.SERVER_ERROR, error)
        except BackendError:
            raise
        except Exception as error:
            raise transport_error(error, mid_stream) from error
        finally:
            if response is not None:
                await response.aclose()


class OpenAIRawWire:
    """Relayed SSE events go to the client as they came (the upstream's own `[DONE]` included)."""

    envelope = OPENAI

    def chunk(self, piece: RawChunk) -> bytes:
        return piece.data

    def end(self) -> bytes:
        return b""

    def add(self, piece: RawChunk) -> None:
        raise AssertionError("only streamed answers are relayed")

    def reply(self) -> bytes:
        raise AssertionError("only streamed answers are relayed")


class OpenAIEmbedRelay:
    """One `/v1/embeddings`: relayed to OpenAI-compatible hosts, rebuilt from vectors for the others."""

    api = "openai"

    def __init__(
        self, carrier: OllamaPassThrough, keys: Mapping[str, str], fields: Mapping[str, Any], reply: Callable[[Embeddings], bytes]
    ) -> None:
        self._carrier, self._keys, self._fields, self._reply = carrier, keys, fields, reply
        self._new = model_field(str(fields.get("model", "")))

    async def send(self, upstream: Upstream) -> RawReply:
        started = time.monotonic()
        headers = openai_headers(self._keys.get(upstream.url, ""), stream=False)
        sent = to_json({**self._fields, "model": upstream.model})
        status, body = await self._carrier.whole(upstream.url + "/v1/embeddings", sent, headers)
        if status != 200:
            raise BackendError(kind_for_status(status), error_text(body), status)
        tokens = _PROMPT_TOKENS.search(body)
        timings = FinalTimings(time.monotonic() - started, None, int(tokens.group(1)) if tokens else None, None, None, None)
        return RawReply(body.replace(model_field(upstream.model), self._new), timings)

    def translated(self, answer: Embeddings) -> RawReply:
        return RawReply(self._reply(answer), answer.timings)

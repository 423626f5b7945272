"""Pass-through: an OpenAI-dialect request relayed as bytes to a host that speaks OpenAI's `/v1`: an
`api: openai` host (llama.cpp, vLLM) or an Ollama host (its own `/v1` routes, backends-api.md §3).

The OpenAI twin of `passthrough.py`, on the same connection pool: the body sent upstream is the
client's, naming the endpoint's model (to an Ollama host `max_completion_tokens` goes as
`max_tokens`: Ollama reads only that one) and carrying the host's key as a bearer token. Streamed,
it asks for the usage chunk (`stream_options.include_usage`: the request's token counts, and
llama.cpp's `timings`, come in it); the SSE events come back as they were written, each
`"model":"<endpoint model>"` replaced by the name the client asked (a byte replacement of a known
value). What is read of them: where each event ends (the first is the first token), the usage
event (the final statistics; dropped when the client did not ask for it, as are the zeroed usages
Ollama then writes on every completion chunk), the finish reason, an `{"error": ...}` event,
`data: [DONE]`. Unstreamed, upstream answers unstreamed too: the one object is relayed renamed, and
its `usage` (and llama.cpp's `timings`) with the time it took are the final statistics; it has no
first token (a `whole` relay, `router.api.Relay`).

One field is added: a streamed chat's first delta carries `"role":"assistant"` as OpenAI's
streams always do (clients take the role from it). llama.cpp writes its role-only chunk for its first
token, but when that token ends mid-character (the first bytes of an emoji) it writes nothing for it
and never writes the role; the relay then puts the role into the first delta it relays.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import httpcore2
from pydantic_core import to_json

from zeta_console.backends.openai_usage import final_timings
from zeta_console.backends.types import (
    BackendError,
    ErrorKind,
    FinalTimings,
    RawChunk,
    RawReply,
    RawStream,
)
from zeta_console.router.api import Upstream
from zeta_console.serve.envelope import OPENAI
from zeta_console.serve.passthrough import Headers, OllamaPassThrough, error_text, line_blocks

EVENT_END = b"\n\n"
DONE_EVENT = b"data: [DONE]"
USAGE = b'"usage":{'
ZERO_USAGE = b',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'  # Ollama's, on every completion chunk
ERROR_EVENT = b'data: {"error"'
FINISH = b'"finish_reason":"'
DELTA = b'"delta":{'
ROLE = b'"role":'  # a key: inside a JSON string its quotes would be escaped
ASSISTANT = b'"role":"assistant"'
_FINISH_REASON = re.compile(rb'"finish_reason":"([^"]+)"')
_PROMPT_TOKENS = re.compile(rb'"prompt_tokens":(\d+)')
APIS = frozenset({"openai", "ollama"})  # the kinds of host that serve OpenAI's /v1


def model_field(model: str) -> bytes:
    return b'"model":' + json.dumps(model, ensure_ascii=False).encode()


@dataclass(frozen=True)
class OpenAIHosts:
    """What a request to a host's `/v1` depends on: its key (by URL, read once as the backends read
    them) and whether it is Ollama."""

    keys: Mapping[str, str]
    ollama: frozenset[str]  # the URLs of `api: ollama` hosts

    def headers(self, url: str, stream: bool) -> Headers:
        key = self.keys.get(url, "")
        accept = b"text/event-stream" if stream else b"application/json"
        authorization = [(b"Authorization", b"Bearer " + key.encode())] if key else []
        return [(b"Content-Type", b"application/json"), (b"Accept", accept), *authorization]

    def fields(self, fields: Mapping[str, Any], url: str, model: str) -> dict[str, Any]:
        """The client's fields as this host reads them, naming its model."""
        sent = {**fields, "model": model}
        if url in self.ollama and sent.get("max_completion_tokens") is not None:
            sent["max_tokens"] = sent.pop("max_completion_tokens")  # serve honours it; Ollama's /v1 reads only max_tokens
        return sent


def _event_at(block: bytes, at: int) -> tuple[int, int]:
    """The start and end of the event holding position `at`."""
    before = block.rfind(EVENT_END, 0, at)
    start = before + len(EVENT_END) if before >= 0 else 0
    end = block.find(EVENT_END, at)
    return start, (end + len(EVENT_END) if end >= 0 else len(block))


def _final_of(parsed: Any, done_reason: str | None) -> FinalTimings:
    """The statistics of an object holding `usage` (and llama.cpp's `timings`)."""
    usage, timings = (parsed.get("usage"), parsed.get("timings")) if isinstance(parsed, dict) else (None, None)
    return final_timings(SimpleNamespace(**usage) if isinstance(usage, dict) else None, timings, done_reason)


def _with_role(block: bytes) -> bytes | None:
    """The block with the role on its first delta (added when missing), or None when it holds no delta."""
    at = block.find(DELTA)
    if at < 0:
        return None
    start, end = _event_at(block, at)
    if ROLE in block[start:end]:
        return block
    inside = at + len(DELTA)
    return block[:inside] + ASSISTANT + (b"" if block[inside : inside + 1] == b"}" else b",") + block[inside:]


def _usage_final(event: bytes, done_reason: str | None) -> FinalTimings:
    return _final_of(json.loads(event[event.index(b"{") :]), done_reason)


def _whole_final(body: bytes, started: float) -> FinalTimings:
    """An unstreamed answer's statistics: its usage and timings, and the time it took when they say none."""
    parsed = json.loads(body)
    choices = parsed.get("choices") if isinstance(parsed, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    reason = first.get("finish_reason")
    final = _final_of(parsed, reason if isinstance(reason, str) else None)
    return final if final.total_s is not None else replace(final, total_s=time.monotonic() - started)


class OpenAIRelay:
    """One `/v1/chat/completions` or `/v1/completions`, streamed or not, relayed: every kind of host speaks
    OpenAI's `/v1`, so none is translated."""

    apis = APIS
    translator = None

    def __init__(
        self, carrier: OllamaPassThrough, hosts: OpenAIHosts, fields: Mapping[str, Any], asked_model: str, *,
        chat: bool, stream: bool, include_usage: bool,
    ) -> None:
        self._carrier, self._hosts, self._fields = carrier, hosts, fields
        self._asked_model, self._chat, self._include_usage = asked_model, chat, include_usage
        self.whole = not stream
        self._path = "/v1/chat/completions" if chat else "/v1/completions"
        self._new = model_field(asked_model)

    async def open(self, upstream: Upstream) -> RawStream:
        url = upstream.url
        sent = self._hosts.fields(self._fields, url, upstream.model)
        old = model_field(upstream.model)
        headers = self._hosts.headers(url, stream=not self.whole)
        if self.whole:
            started = time.monotonic()

            async def read_whole(response: httpcore2.Response) -> RawStream:
                body = await response.aread()
                yield RawChunk(body.replace(old, self._new), _whole_final(body, started))

            return self._carrier.exchange(url + self._path, to_json(sent), headers, read_whole)
        sent["stream"] = True
        sent["stream_options"] = {**(self._fields.get("stream_options") or {}), "include_usage": True}
        return self._carrier.exchange(url + self._path, to_json(sent), headers, lambda response: self._events(response, old))

    async def _events(self, response: httpcore2.Response, old: bytes) -> RawStream:
        """The upstream's SSE events in blocks of whole events, renamed; the block with `[DONE]` is
        the final piece."""
        relayed, done_reason, final, role_due = False, None, None, self._chat
        async for block in line_blocks(response.aiter_stream(), EVENT_END):
            error: str | None = None
            if ERROR_EVENT in block:
                start, end = _event_at(block, block.find(ERROR_EVENT))
                error = error_text(block[start + len(b"data: ") : end].strip())
                block = block[:start]
            if FINISH in block:
                found = _FINISH_REASON.search(block)
                done_reason = found.group(1).decode() if found else done_reason
            if not self._include_usage and ZERO_USAGE in block:
                block = block.replace(ZERO_USAGE, b"")
            if USAGE in block:  # the last one: before it, Ollama's zeroed completion usages when the client asked for them
                start, end = _event_at(block, block.rfind(USAGE))
                final = _usage_final(block[start:end], done_reason)
                if not self._include_usage:
                    block = block[:start] + block[end:]
            if role_due and (with_role := _with_role(block)) is not None:
                block, role_due = with_role, False
            last = DONE_EVENT in block
            if old in block:
                block = block.replace(old, self._new)
            if block or last:
                yield RawChunk(block, (final or final_timings(None, None, done_reason)) if last else None)
                relayed = True
            if error is not None:  # before any byte went out, another endpoint may still answer
                raise BackendError(ErrorKind.FAILED_MID_STREAM if relayed else ErrorKind.SERVER_ERROR, error)


class OpenAIRawWire:
    """Relayed SSE events go to the client as they came (the upstream's own `[DONE]` included); an
    unstreamed answer is the one object relayed whole."""

    envelope = OPENAI

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def chunk(self, piece: RawChunk) -> bytes:
        return piece.data

    def end(self) -> bytes:
        return b""

    def add(self, piece: RawChunk) -> None:
        self._pieces.append(piece.data)

    def reply(self) -> bytes:
        return b"".join(self._pieces)


class OpenAIEmbedRelay:
    """One `/v1/embeddings`, relayed: every kind of host speaks OpenAI's `/v1`, so none is translated."""

    apis = APIS
    translated = None

    def __init__(self, carrier: OllamaPassThrough, hosts: OpenAIHosts, fields: Mapping[str, Any]) -> None:
        self._carrier, self._hosts, self._fields = carrier, hosts, fields
        self._new = model_field(str(fields.get("model", "")))

    async def send(self, upstream: Upstream) -> RawReply:
        started = time.monotonic()
        sent = to_json(self._hosts.fields(self._fields, upstream.url, upstream.model))
        body = await self._carrier.whole(upstream.url + "/v1/embeddings", sent, self._hosts.headers(upstream.url, stream=False))
        tokens = _PROMPT_TOKENS.search(body)
        timings = FinalTimings(time.monotonic() - started, None, int(tokens.group(1)) if tokens else None, None, None, None)
        return RawReply(body.replace(model_field(upstream.model), self._new), timings)

"""Ollama's OpenAI-compatible `/v1` routes on the emulator, built as Ollama's middleware builds them
(backends-api.md §3, ollama `middleware/openai.go`): each request is rewritten into the native
handler's body (`FromChatRequest`, `FromCompleteRequest`, the embed and show requests), the native
handler runs unchanged, and its reply (one object or NDJSON lines) is rewritten into OpenAI's.

What Ollama's `/v1` does and this does too: only `max_tokens` limits the output
(`max_completion_tokens` is ignored), `temperature` and `top_p` are 1.0 when absent, reasoning comes
back as `reasoning`, a stream's first chunk is the role alone (`"content":""`, written with the first
text), ids are `chatcmpl-<0..998>` / `cmpl-<0..998>`, `system_fingerprint` is
`fp_ollama`, usage has no details (and is omitted from other chat chunks, zeroed on every
completion chunk), errors are `{"error":{"message","type","param":null,"code":null}}` with the native
status, `/v1/models` lists `data: null` when no model is installed. A failure after the stream has
started is no error event: the stream ends without a finish reason or `[DONE]` (backends-api.md §3).
"""

from __future__ import annotations

import base64
import json
import random
import struct
import time
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from zeta_console.ollama_api.decode import decode_body
from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.openai_request import (
    CHAT_SCHEMA,
    COMPLETION_SCHEMA,
    EMBEDDING_SCHEMA,
    native_format,
    native_messages,
    native_options,
    native_think,
)
from zeta_console.sim.generation import MidStreamFailure
from zeta_console.sim.parsing import parse_chat, parse_embed, parse_generate, parse_show
from zeta_console.sim.service import HostService, JsonReply, Reply, StreamReply
from zeta_console.sim.wire import CHAT, GENERATE, encode

SSE_TYPE = b"text/event-stream"
FINGERPRINT = "fp_ollama"
OLLAMA_LIMITS = ("max_tokens",)  # Ollama's FromChatRequest reads no max_completion_tokens
DONE = b"data: [DONE]\n\n"
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def error_payload(status: int, message: str) -> dict[str, Any]:
    """`openai.NewError`: the type by status, `param` and `code` always null."""
    return {"error": {"message": message, "type": _ERROR_TYPES.get(status, "api_error"), "param": None, "code": None}}


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + encode(payload) + b"\n\n"


def _native_body(fields: dict[str, Any]) -> bytes:
    return encode({name: value for name, value in fields.items() if value is not None})


def _include_usage(fields: dict[str, Any]) -> bool:
    options = fields.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _usage(native: dict[str, Any]) -> dict[str, int]:
    prompt, output = native.get("prompt_eval_count", 0), native.get("eval_count", 0)
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _finish_reason(native: dict[str, Any]) -> str | None:
    reason = native.get("done_reason") or None
    if reason is not None and native.get("message", {}).get("tool_calls"):
        return "length" if reason == "length" else "tool_calls"
    return reason


class _Reply:
    """One answer's OpenAI shape: the head every chunk repeats, and the rewriting of native objects."""

    def __init__(self, chat: bool, model: str, include_usage: bool) -> None:
        self.chat, self.include_usage = chat, include_usage
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{random.randrange(999)}"
        self.created = int(time.time())
        self.model = model
        self._started = False

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model, "system_fingerprint": FINGERPRINT}

    def whole(self, native: dict[str, Any]) -> dict[str, Any]:
        if self.chat:
            message = native.get("message", {})
            text: dict[str, Any] = {"role": "assistant", "content": message.get("content", "")}
            if message.get("thinking"):
                text["reasoning"] = message["thinking"]
            choice: dict[str, Any] = {"index": 0, "message": text, "finish_reason": _finish_reason(native)}
            return self._head("chat.completion") | {"choices": [choice], "usage": _usage(native)}
        choice = {"text": native.get("response", ""), "index": 0, "finish_reason": _finish_reason(native)}
        return self._head("text_completion") | {"choices": [choice], "usage": _usage(native)}

    def chunks(self, native: dict[str, Any]) -> bytes:
        """The events one native line becomes (the done line's end with usage and `[DONE]`)."""
        done = native.get("done") is True
        if not self.chat:
            return self._completion_chunks(native, done)
        message = native.get("message", {})
        deltas: list[dict[str, Any]] = []
        if message.get("thinking"):  # a line with both is split: reasoning first
            deltas.append({"reasoning": message["thinking"]})
        if message.get("content") or not deltas:
            deltas.append({"content": message.get("content", "")})
        if done and deltas == [{"content": ""}]:
            deltas = []
        if deltas and not self._started:  # the role alone first, then the text (backends-api.md §1.3, §3)
            deltas.insert(0, {"role": "assistant", "content": ""})
            self._started = True
        events = [
            _event(self._head("chat.completion.chunk") | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            for delta in deltas
        ]
        if done:
            finish = {"index": 0, "delta": {}, "finish_reason": _finish_reason(native)}
            events.append(_event(self._head("chat.completion.chunk") | {"choices": [finish]}))
            if self.include_usage:
                events.append(_event(self._head("chat.completion.chunk") | {"choices": [], "usage": _usage(native)}))
            events.append(DONE)
        return b"".join(events)

    def _completion_chunks(self, native: dict[str, Any], done: bool) -> bytes:
        choice = {"text": native.get("response", ""), "index": 0, "finish_reason": _finish_reason(native) if done else None}
        head = {"id": self.id, "object": "text_completion", "created": self.created}
        tail: dict[str, Any] = {"model": self.model, "system_fingerprint": FINGERPRINT}
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        events = [_event(head | {"choices": [choice]} | tail | ({"usage": zero} if self.include_usage else {}))]
        if done:
            if self.include_usage:
                events.append(_event(head | {"choices": []} | tail | {"usage": _usage(native)}))
            events.append(DONE)
        return b"".join(events)

    async def events(self, native: StreamReply) -> AsyncGenerator[bytes, None]:
        try:
            async for line in native.rest:
                yield self.chunks(json.loads(line))
        except MidStreamFailure:
            return  # no error event: the stream just ends, without a finish reason or [DONE]
        finally:
            await native.rest.aclose()  # type: ignore[attr-defined]  # an async generator, typed as its iterator


async def _converted(reply: Reply, answer: _Reply, stream: bool) -> Reply:
    """The native reply in OpenAI's shape: streamed when the client asked, even when the native
    handler answered one object (a load-only request), as Ollama's writer streams whatever it is given."""
    if isinstance(reply, StreamReply):
        return StreamReply(answer.chunks(json.loads(reply.first_line)), answer.events(reply), SSE_TYPE)
    if stream:
        return StreamReply(answer.chunks(reply.payload), _nothing_more(), SSE_TYPE)
    return JsonReply(answer.whole(reply.payload))


async def _nothing_more() -> AsyncGenerator[bytes, None]:
    return
    yield


class OpenAIRoutes:
    """The `/v1` handlers of one emulated host."""

    def __init__(self, service: HostService) -> None:
        self.service = service

    async def chat(self, body: bytes) -> Reply:
        fields = decode_body(body, "openai.ChatCompletionRequest", CHAT_SCHEMA)
        native = {
            "model": fields.get("model", ""),
            "messages": native_messages(fields.get("messages") or ()),
            "options": native_options(fields, OLLAMA_LIMITS),
            "stream": fields.get("stream", False),
            "tools": fields.get("tools"),
            "think": native_think(fields),
            "format": native_format(fields.get("response_format")),
        }
        request = parse_chat(self.service.spec, _native_body(native))
        answer = _Reply(True, request.asked_model, _include_usage(fields))
        return await _converted(await self.service.complete(CHAT, request), answer, request.stream)

    async def completion(self, body: bytes) -> Reply:
        fields = decode_body(body, "openai.CompletionRequest", COMPLETION_SCHEMA)
        if not isinstance(fields.get("prompt", ""), str):
            raise ApiError(400, "json: cannot unmarshal array into Go struct field CompletionRequest.prompt of type string")
        native = {
            "model": fields.get("model", ""),
            "prompt": fields.get("prompt", ""),
            "suffix": fields.get("suffix"),
            "options": native_options(fields, OLLAMA_LIMITS),
            "stream": fields.get("stream", False),
        }
        request = parse_generate(self.service.spec, _native_body(native))
        answer = _Reply(False, request.asked_model, _include_usage(fields))
        return await _converted(await self.service.complete(GENERATE, request), answer, request.stream)

    async def embeddings(self, body: bytes) -> Reply:
        fields = decode_body(body, "openai.EmbedRequest", EMBEDDING_SCHEMA)
        encoding = fields.get("encoding_format") or ""
        if encoding and encoding.lower() not in ("float", "base64"):
            raise ApiError(400, f"Invalid value for 'encoding_format' = {encoding}. Supported values: ['float', 'base64'].")
        raw_input = fields.get("input")
        if raw_input == "":
            raw_input = [""]
        if raw_input is None or raw_input == []:
            raise ApiError(400, "invalid input")
        native_fields = {"model": fields.get("model"), "input": raw_input, "dimensions": fields.get("dimensions")}
        request = parse_embed(self.service.spec, _native_body(native_fields))
        native = await self.service.embed(request)
        as_base64 = encoding.lower() == "base64"
        data = [
            {"object": "embedding", "embedding": _base64_floats(vector) if as_base64 else vector, "index": index}
            for index, vector in enumerate(native.get("embeddings", []))
        ]
        tokens = native.get("prompt_eval_count", 0)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return JsonReply({"object": "list", "data": data, "model": fields.get("model", ""), "usage": usage})

    def models(self) -> dict[str, Any]:
        listed = [_model(entry["name"], entry["modified_at"]) for entry in self.service.tags()["models"]]
        return {"object": "list", "data": listed or None}  # Go's nil slice

    def model(self, name: str) -> dict[str, Any]:
        profile = parse_show(self.service.spec, encode({"model": name}))
        entry = next(entry for entry in self.service.tags()["models"] if entry["name"] == profile.name)
        return _model(name, entry["modified_at"])


def _model(name: str, modified_at: str) -> dict[str, Any]:
    owner = name.split("/")[-2] if "/" in name else "library"
    return {"id": name, "object": "model", "created": int(datetime.fromisoformat(modified_at).timestamp()), "owned_by": owner}


def _base64_floats(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()

"""OpenAI's dialect on serve: `/v1` request bodies -> router requests -> OpenAI's replies.

Done as Ollama's own `/v1` middleware does it (backends-api.md §3, `ollama_api.openai_request`): a
request is rewritten into the fields of the native endpoint (/api/chat, /api/generate, /api/embed) and goes through the
same translator, so the model names, capability checks and option rules are the Ollama routes'
own; only what OpenAI names differently is mapped here. Where Ollama's `/v1` differs from
OpenAI's, this follows Ollama: `reasoning` (not `reasoning_content`) in replies, `temperature`
and `top_p` 1.0 when absent, reasoning effort mapped onto `think`. Unlike Ollama, both
`max_completion_tokens` and `max_tokens` are honoured (the first wins).

The answer is written by `OpenAIWire` (chat completion or text completion, streamed as SSE or
as one object); errors come in OpenAI's envelope (`envelope.OPENAI`).
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic_core import to_json

from zeta_console.backends.types import Delta, Embeddings, FinalTimings, ToolCall
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
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.serve.catalogue import Catalogue, CatalogueModel
from zeta_console.serve.envelope import OPENAI
from zeta_console.serve.translate import RequestTranslator, Routable

SYSTEM_FINGERPRINT = "fp_zeta"
SERVE_LIMITS = ("max_completion_tokens", "max_tokens")  # unlike Ollama's /v1, both are honoured; the first wins


def _include_usage(fields: Mapping[str, Any]) -> bool:
    include_usage = fields.get("stream_options", {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise ApiError(400, "stream_options.include_usage must be a boolean")
    return bool(include_usage)


def _base(fields: Mapping[str, Any]) -> dict[str, Any]:
    options = native_options(fields, SERVE_LIMITS)
    return {"model": fields.get("model", ""), "options": options, "stream": fields.get("stream", False)}  # OpenAI: off by default


class OpenAITranslator:
    """`/v1` bodies -> router requests, through the native translator of the same catalogue. Each
    `Routable` carries the OpenAI body's fields: what a pass-through to an OpenAI host sends."""

    def __init__(self, native: RequestTranslator) -> None:
        self.native = native

    def chat(self, body: bytes, client: str, session: str | None = None) -> tuple[Routable[ChatRequest], bool]:
        """The request and whether a stream ends with a usage chunk. The session is serve's
        X-Zeta-Session header, else OpenAI's `user` field."""
        fields = decode_body(body, "openai.ChatCompletionRequest", CHAT_SCHEMA)
        native = _base(fields) | {"messages": native_messages(fields.get("messages", ())), "tools": fields.get("tools", [])}
        native |= {"think": native_think(fields), "format": native_format(fields.get("response_format"))}
        return replace(self.native.chat_fields(native, client, session or fields.get("user")), fields=fields), _include_usage(fields)

    def completion(self, body: bytes, client: str, session: str | None = None) -> tuple[Routable[GenerateRequest], bool]:
        fields = decode_body(body, "openai.CompletionRequest", COMPLETION_SCHEMA)
        prompt = fields.get("prompt", "")
        if not isinstance(prompt, str):
            raise ApiError(400, "invalid prompt: expected a string")
        native = _base(fields) | {"prompt": prompt} | ({"suffix": fields["suffix"]} if "suffix" in fields else {})
        routable = self.native.generate_fields(native, client, session or fields.get("user"))
        return replace(routable, fields=fields), _include_usage(fields)

    def embedding(self, body: bytes, client: str) -> tuple[Routable[EmbedRequest], bool]:
        """The request and whether the vectors go back as base64."""
        fields = decode_body(body, "openai.EmbedRequest", EMBEDDING_SCHEMA)
        raw_input = fields.get("input")
        if not isinstance(raw_input, (str, list)) or raw_input == []:
            raise ApiError(400, "invalid input")  # Ollama's answer to [], null or a missing input
        if isinstance(raw_input, list) and not all(isinstance(item, str) for item in raw_input):
            raise ApiError(400, "invalid input: expected a string or an array of strings")
        encoding = fields.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise ApiError(400, f'invalid encoding format {json.dumps(encoding)}: expected "float" or "base64"')
        native = {"model": fields.get("model", ""), "dimensions": fields.get("dimensions")}
        return replace(self.native.embedding(native, raw_input, client), fields=fields), encoding == "base64"


def _usage(final: FinalTimings | None) -> dict[str, int]:
    prompt = (final.prompt_tokens if final else None) or 0
    output = (final.output_tokens if final else None) or 0
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _finish_reason(final: FinalTimings | None, called_tools: bool) -> str:
    if final is not None and final.done_reason == "length":
        return "length"
    return "tool_calls" if called_tools else "stop"


def _openai_tool_call(call: ToolCall, index: int) -> dict[str, Any]:
    function = {"name": call.name, "arguments": json.dumps(call.arguments, separators=(",", ":"))}
    return {"index": index, "id": f"call_{secrets.token_hex(8)}", "type": "function", "function": function}


def _event(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + to_json(payload) + b"\n\n"


class OpenAIWire:
    """One answer in OpenAI's dialect: a chat completion (`chat=True`) or a text completion, streamed
    as SSE chunks (role on the first, finish_reason in its own chunk, the usage chunk with
    `choices: []` when asked, `data: [DONE]`) or aggregated into one object with its usage."""

    envelope = OPENAI

    def __init__(self, asked_model: str, *, chat: bool, include_usage: bool = False) -> None:
        self._chat = chat
        self._include_usage = include_usage
        self._head = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{secrets.token_hex(12)}",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": asked_model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        self._started = False
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._final: FinalTimings | None = None

    def _choice(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        if self._chat:
            return {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"index": 0, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish_reason}

    def _calls(self, delta: Delta) -> list[dict[str, Any]]:
        calls = [_openai_tool_call(call, len(self._tool_calls) + offset) for offset, call in enumerate(delta.tool_calls)]
        self._tool_calls.extend(calls)
        return calls

    def chunk(self, delta: Delta) -> bytes:
        piece: dict[str, Any] = {}
        if not self._started:
            piece = {"role": "assistant", "content": ""} if self._chat else {}
            self._started = True
        if delta.content:
            piece["content"] = delta.content
        if delta.thinking and self._chat:
            piece["reasoning"] = delta.thinking
        if delta.tool_calls and self._chat:
            piece["tool_calls"] = self._calls(delta)
        events = [_event(self._head | {"choices": [self._choice(piece, None)]})] if piece else []
        if delta.final is not None:
            finish = _finish_reason(delta.final, bool(self._tool_calls))
            events.append(_event(self._head | {"choices": [self._choice({}, finish)]}))
            if self._include_usage:
                events.append(_event(self._head | {"choices": [], "usage": _usage(delta.final)}))
        return b"".join(events)

    def end(self) -> bytes:
        return b"data: [DONE]\n\n"

    def add(self, delta: Delta) -> None:
        self._content.append(delta.content)
        self._reasoning.append(delta.thinking)
        if delta.tool_calls:
            self._calls(delta)
        self._final = delta.final

    def reply(self) -> bytes:
        finish = _finish_reason(self._final, bool(self._tool_calls))
        text = "".join(self._content)
        if self._chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if any(self._reasoning):
                message["reasoning"] = "".join(self._reasoning)
            if self._tool_calls:
                message["tool_calls"] = [{name: value for name, value in call.items() if name != "index"} for call in self._tool_calls]
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        kind = "chat.completion" if self._chat else "text_completion"
        return to_json(self._head | {"object": kind, "choices": [choice], "usage": _usage(self._final)})


def _base64_floats(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_reply(answer: Embeddings, asked_model: str, as_base64: bool) -> bytes:
    data = [
        {"object": "embedding", "index": index, "embedding": _base64_floats(vector) if as_base64 else list(vector)}
        for index, vector in enumerate(answer.embeddings)
    ]
    tokens = answer.timings.prompt_tokens or 0
    return to_json({"object": "list", "data": data, "model": asked_model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def model_object(model: CatalogueModel, created: int) -> dict[str, Any]:
    """One model as /v1/models lists it: `owned_by` is the name's namespace (`library` by default), `zeta` for virtual models."""
    namespace = model.name.rsplit("/", 1)[0].rsplit("/", 1)[-1] if "/" in model.name else "library"
    return {"id": model.name, "object": "model", "created": created, "owned_by": "zeta" if model.is_virtual else namespace}


def models_list(catalogue: Catalogue, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(model, created) for model in catalogue.models]}


def the_model(catalogue: Catalogue, name: str) -> CatalogueModel:
    model = catalogue.resolve(name)
    if model is None:
        raise ApiError(404, f'model "{name}" not found')
    return model

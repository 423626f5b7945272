"""OpenAI's dialect on serve: `/v1` request bodies -> router requests -> OpenAI's replies.

Done as Ollama's own `/v1` middleware does it (backends-api.md §3): a request is rewritten into
the fields of the native endpoint (/api/chat, /api/generate, /api/embed) and goes through the
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
import re
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import to_json

from zeta_console.backends.types import Delta, FinalTimings, ToolCall
from zeta_console.ollama_api.decode import BOOL, FLOAT, INT, OBJECT, STRING, decode_body, list_of
from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.fields import ANY
from zeta_console.router.api import EmbedResult
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.serve.catalogue import Catalogue, CatalogueModel
from zeta_console.serve.envelope import OPENAI
from zeta_console.serve.translate import RequestTranslator, Routable

_SAMPLING = {"temperature": FLOAT, "top_p": FLOAT, "seed": INT, "stop": ANY, "frequency_penalty": FLOAT, "presence_penalty": FLOAT}
_COMMON = {"model": STRING, "stream": BOOL, "stream_options": OBJECT, "max_tokens": INT, "user": STRING, **_SAMPLING}
CHAT_SCHEMA = {
    **_COMMON,
    "messages": list_of(OBJECT, "[]openai.Message"),
    "max_completion_tokens": INT,
    "response_format": OBJECT,
    "tools": list_of(OBJECT, "[]api.Tool"),
    "reasoning_effort": STRING,
    "reasoning": OBJECT,
}
COMPLETION_SCHEMA = {**_COMMON, "prompt": ANY, "suffix": STRING}
EMBEDDING_SCHEMA = {"model": STRING, "input": ANY, "encoding_format": STRING, "dimensions": INT}

# reasoning effort -> Ollama's think (backends-api.md §3)
THINK_FOR_EFFORT: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}
_DATA_URI = re.compile(r"data:(?:image/(?:jpeg|jpg|png|webp))?;base64,(.*)", re.DOTALL)
SYSTEM_FINGERPRINT = "fp_zeta"


def _include_usage(fields: Mapping[str, Any]) -> bool:
    include_usage = fields.get("stream_options", {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise ApiError(400, "stream_options.include_usage must be a boolean")
    return bool(include_usage)


def _options(fields: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's sampling fields as Ollama options (checked afterwards by the native translator)."""
    options: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0}  # Ollama's /v1 defaults, which override the model's
    options |= {name: fields[name] for name in _SAMPLING if name in fields}
    limit = fields.get("max_completion_tokens", fields.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    return options


def _think(fields: Mapping[str, Any]) -> bool | str | None:
    effort = fields.get("reasoning", {}).get("effort", fields.get("reasoning_effort"))
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in THINK_FOR_EFFORT:
        allowed = ", ".join(f'"{name}"' for name in THINK_FOR_EFFORT)
        raise ApiError(400, f"invalid reasoning effort {json.dumps(effort)}: expected one of {allowed}")
    return THINK_FOR_EFFORT[effort]


def _format(response_format: Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    schema = (response_format or {}).get("json_schema")
    if kind == "json_schema" and isinstance(schema, dict) and isinstance(schema.get("schema"), dict):
        return schema["schema"]  # type: ignore[no-any-return]  # a JSON schema object
    raise ApiError(400, 'invalid response_format: expected type "text", "json_object" or "json_schema" with a schema object')


def _image(part: Mapping[str, Any]) -> str:
    """The base64 payload of an image part; Ollama takes only data URIs (it fetches no URL)."""
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    match = _DATA_URI.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        raise ApiError(400, "invalid image input: image_url must be a base64 data URI (data:image/png;base64,...)")
    return match.group(1)


def _content(content: Any) -> tuple[str, list[str]]:
    """A message's text and images: `content` is a string or a list of text and image_url parts."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise ApiError(400, "invalid message content: expected a string or an array of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            images.append(_image(part))
        else:
            raise ApiError(400, f"invalid message content part: {json.dumps(kind) if kind else 'expected an object with a type'}")
    return "".join(texts), images


def _tool_calls(calls: Any, names_by_id: dict[str, str]) -> list[dict[str, Any]]:
    """OpenAI's tool calls (arguments as JSON text) -> Ollama's (arguments as an object)."""
    if not isinstance(calls, list):
        raise ApiError(400, "invalid tool_calls: expected an array")
    native = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ApiError(400, "invalid tool call: expected a function with a name")
        arguments = function.get("arguments") or "{}"
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(400, f"invalid tool call arguments for {function['name']}: expected a JSON object")
        if isinstance(call.get("id"), str):
            names_by_id[call["id"]] = function["name"]
        native.append({"function": {"name": function["name"], "arguments": parsed}})
    return native


def _messages(raw_messages: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    messages = [raw for raw in raw_messages if raw is not None]
    if not messages:
        raise ApiError(400, "[] is too short - 'messages'")
    names_by_id: dict[str, str] = {}
    native = []
    for raw in messages:
        text, images = _content(raw.get("content"))
        role = raw.get("role")
        message: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": text}
        if images:
            message["images"] = images
        if raw.get("reasoning") is not None:
            message["thinking"] = raw["reasoning"]
        if raw.get("tool_calls") is not None:
            message["tool_calls"] = _tool_calls(raw["tool_calls"], names_by_id)
        call_id = raw.get("tool_call_id") or ""
        if not isinstance(call_id, str):
            raise ApiError(400, "invalid tool_call_id: expected a string")
        tool_name = raw.get("name") or names_by_id.get(call_id)
        if role == "tool" and tool_name:
            message["tool_name"] = tool_name
        native.append(message)
    return native


def _base(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"model": fields.get("model", ""), "options": _options(fields), "stream": fields.get("stream", False)}  # OpenAI: off by default


class OpenAITranslator:
    """`/v1` bodies -> router requests, through the native translator of the same catalogue."""

    def __init__(self, native: RequestTranslator) -> None:
        self.native = native

    def chat(self, body: bytes, client: str, session: str | None = None) -> tuple[Routable[ChatRequest], bool]:
        """The request and whether a stream ends with a usage chunk. The session is serve's
        X-Zeta-Session header, else OpenAI's `user` field."""
        fields = decode_body(body, "openai.ChatCompletionRequest", CHAT_SCHEMA)
        native = _base(fields) | {"messages": _messages(fields.get("messages", ())), "tools": fields.get("tools", [])}
        native |= {"think": _think(fields), "format": _format(fields.get("response_format"))}
        return self.native.chat_fields(native, client, session or fields.get("user")), _include_usage(fields)

    def completion(self, body: bytes, client: str, session: str | None = None) -> tuple[Routable[GenerateRequest], bool]:
        fields = decode_body(body, "openai.CompletionRequest", COMPLETION_SCHEMA)
        prompt = fields.get("prompt", "")
        if not isinstance(prompt, str):
            raise ApiError(400, "invalid prompt: expected a string")
        native = _base(fields) | {"prompt": prompt} | ({"suffix": fields["suffix"]} if "suffix" in fields else {})
        return self.native.generate_fields(native, client, session or fields.get("user")), _include_usage(fields)

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
        return self.native.embedding(native, raw_input, client), encoding == "base64"


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


def embeddings_reply(result: EmbedResult, asked_model: str, as_base64: bool) -> bytes:
    data = [
        {"object": "embedding", "index": index, "embedding": _base64_floats(vector) if as_base64 else list(vector)}
        for index, vector in enumerate(result.response.embeddings)
    ]
    tokens = result.response.timings.prompt_tokens or 0
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


"""OpenAI's request bodies as Ollama's `/v1` middleware reads them (backends-api.md §3): the schemas and
the rewriting of their fields into the native endpoints' (/api/chat, /api/generate), shared by serve's
`/v1` routes and the emulator's."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from zeta_console.ollama_api.decode import BOOL, FLOAT, INT, OBJECT, STRING, list_of
from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.fields import ANY

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


def native_options(fields: Mapping[str, Any], limits: Sequence[str]) -> dict[str, Any]:
    """OpenAI's sampling fields as Ollama options (checked afterwards by the native translator); the
    output limit is the first of `limits` present (Ollama's own `/v1` reads only `max_tokens`)."""
    options: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0}  # Ollama's /v1 defaults, which override the model's
    options |= {name: fields[name] for name in _SAMPLING if name in fields}
    limit = next((fields[name] for name in limits if fields.get(name) is not None), None)
    if limit is not None:
        options["num_predict"] = limit
    return options


def native_think(fields: Mapping[str, Any]) -> bool | str | None:
    effort = fields.get("reasoning", {}).get("effort", fields.get("reasoning_effort"))
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in THINK_FOR_EFFORT:
        allowed = ", ".join(f'"{name}"' for name in THINK_FOR_EFFORT)
        raise ApiError(400, f"invalid reasoning effort {json.dumps(effort)}: expected one of {allowed}")
    return THINK_FOR_EFFORT[effort]


def native_format(response_format: Mapping[str, Any] | None) -> str | Mapping[str, Any] | None:
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


def native_messages(raw_messages: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
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

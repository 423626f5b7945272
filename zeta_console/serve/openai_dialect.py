"""OpenAI's dialect on serve: `/v1` request bodies -> router requests; `/v1/models` bodies.

Done as Ollama's own `/v1` middleware does it (backends-api.md §3, `ollama_api.openai_request`): a
request is rewritten into the fields of the native endpoint (/api/chat, /api/generate, /api/embed) and goes through the
same translator, so the model names, capability checks and option rules are the Ollama routes'
own; only what OpenAI names differently is mapped here. Where Ollama's `/v1` differs from
OpenAI's, this follows Ollama: `temperature` and `top_p` 1.0 when absent, reasoning effort mapped
onto `think`. Unlike Ollama, both `max_completion_tokens` and `max_tokens` are honoured (the first wins).

The answer is the host's own, relayed (`openai_passthrough`: every kind of host serves `/v1`);
errors come in OpenAI's envelope (`envelope.OPENAI`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
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
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.serve.catalogue import Catalogue, CatalogueModel
from zeta_console.serve.translate import RequestTranslator, Routable

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

    def embedding(self, body: bytes, client: str) -> Routable[EmbedRequest]:
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
        return replace(self.native.embedding(native, raw_input, client), fields=fields)


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

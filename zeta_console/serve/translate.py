"""Ollama request JSON -> router requests, with Ollama's validation and error texts.

Every check that can fail because of the client happens here, before routing, so a client
mistake is always a 4xx (ollama-api.md §2.2) and never reaches a model.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import ollama
import pydantic

from zeta_console.ollama_api.decode import STRINGS, decode_body, type_error
from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.fields import (
    CHAT_SCHEMA,
    EMBED_SCHEMA,
    EMBEDDINGS_SCHEMA,
    GENERATE_SCHEMA,
    MESSAGE_SCHEMA,
    SHOW_SCHEMA,
    check_top_logprobs,
    keep_alive_seconds,
    parse_options,
    parse_think,
)
from zeta_console.ollama_api.names import canonical_name
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.serve.catalogue import Catalogue, CatalogueModel

Request = TypeVar("Request", ChatRequest, GenerateRequest, EmbedRequest)


@dataclass(frozen=True)
class Routable(Generic[Request]):
    """A validated request, ready for the router, with what the reply needs to echo."""

    request: Request
    asked_model: str  # the `model` string exactly as the client sent it
    stream: bool
    fields: Mapping[str, Any]  # the body's known fields, checked: what a pass-through sends upstream


def _format(value: Any) -> str | Mapping[str, Any] | None:
    if value is None or value == "":
        return None
    if value == "json" or isinstance(value, dict):
        return value  # type: ignore[no-any-return]  # the string "json" or a JSON schema object
    raise ApiError(400, 'invalid format: expected "json" or a JSON schema object')


def _image_bytes(value: str, field: str) -> bytes:
    # Bytes, not strings, go downstream: the ollama client would read a string that names an
    # existing file on this machine and send that file's content instead.
    try:
        return b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"illegal base64 data in {field}") from None


def _message(raw: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A message as plain data for the router, checked by the ollama client's own model."""
    fields = {name: raw[name] for name in MESSAGE_SCHEMA if raw.get(name) is not None}
    for name, value in fields.items():
        if not MESSAGE_SCHEMA[name].accepts(value):
            raise type_error("ChatRequest", f"messages.{name}", MESSAGE_SCHEMA[name].name, value)
    if "images" in fields:
        fields["images"] = [_image_bytes(image, "messages.images") for image in fields["images"] if image]
    fields.setdefault("role", "")
    try:
        ollama.Message.model_validate({name: value for name, value in fields.items() if name != "images"})  # images: checked above
    except pydantic.ValidationError as error:
        raise ApiError(400, f"invalid message {index}: {_first_problem(error)}") from None
    return fields


def _tool(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        ollama.Tool.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ApiError(400, f"invalid tool: {_first_problem(error)}") from None
    return raw


def _first_problem(error: pydantic.ValidationError) -> str:
    problem = error.errors()[0]
    location = ".".join(str(part) for part in problem["loc"])
    return f"{location}: {problem['msg']}" if location else str(problem["msg"])


class RequestTranslator:
    """Turns request bodies into router requests for the models of one catalogue."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def _require(self, model: CatalogueModel, capability: str, message: str) -> None:
        if not self.catalogue.supports(model, capability):
            raise ApiError(400, message)

    def _model(self, asked: str, not_found: str, empty: ApiError | None = None) -> CatalogueModel:
        if not asked and empty is not None:
            raise empty
        model = self.catalogue.resolve(asked) if asked else None
        if model is None:
            raise ApiError(404, not_found)
        return model

    def _inference(
        self, fields: Mapping[str, Any], operation: str, struct: str, client: str, empty: ApiError | None, session: str | None
    ) -> tuple[CatalogueModel, dict[str, Any]]:
        """The model and the router fields that chat and generate share, validated (an empty session is none)."""
        asked = fields.get("model", "")
        model = self._model(asked, f"model '{asked}' not found", empty)
        self._require(model, "completion", f'"{asked}" does not support {operation}')
        think = parse_think(fields.get("think"))
        if think not in (None, False):
            self._require(model, "thinking", f'"{asked}" does not support thinking')
        check_top_logprobs(fields)
        return model, {
            "task": model.task,
            "target": model.pinned_model,
            "think": think,
            "options": parse_options(fields.get("options")),
            "format": _format(fields.get("format")),
            "keep_alive": keep_alive_seconds(fields.get("keep_alive"), struct),
            "client": client,
            "session": session or None,
        }

    def chat(self, body: bytes, client: str, session: str | None = None) -> Routable[ChatRequest]:
        return self.chat_fields(decode_body(body, "api.ChatRequest", CHAT_SCHEMA), client, session)

    def chat_fields(self, fields: Mapping[str, Any], client: str, session: str | None = None) -> Routable[ChatRequest]:
        """A chat request from fields in /api/chat's shape (decoded, or rewritten from another dialect)."""
        asked = fields.get("model", "")
        model, common = self._inference(fields, "chat", "api.ChatRequest", client, ApiError(400, "model is required"), session)
        messages = tuple(_message(raw, index) for index, raw in enumerate(fields.get("messages", ())) if raw is not None)
        tools = tuple(_tool(raw) for raw in fields.get("tools", ()) if raw is not None)
        if tools:
            self._require(model, "tools", f"{asked} does not support tools")
        if any(message.get("images") for message in messages):
            self._require(model, "vision", f"{asked} does not support vision")
        stream = fields.get("stream", True)
        return Routable(ChatRequest(messages=messages, tools=tools or None, stream=bool(stream), **common), asked, stream, fields)

    def generate(self, body: bytes, client: str, session: str | None = None) -> Routable[GenerateRequest]:
        return self.generate_fields(decode_body(body, "api.GenerateRequest", GENERATE_SCHEMA), client, session)

    def generate_fields(self, fields: Mapping[str, Any], client: str, session: str | None = None) -> Routable[GenerateRequest]:
        """A generate request from fields in /api/generate's shape."""
        asked = fields.get("model", "")
        model, common = self._inference(fields, "generate", "api.GenerateRequest", client, None, session)
        if fields.get("raw") and ("template" in fields or "system" in fields or "context" in fields):
            raise ApiError(400, "raw mode does not support template, system, or context")
        if fields.get("suffix"):
            self._require(model, "insert", f"{asked} does not support insert")
        if fields.get("images"):
            self._require(model, "vision", f"{asked} does not support vision")
        images = tuple(_image_bytes(image, "images") for image in fields.get("images", ()) if image)
        request = GenerateRequest(  # `context` (deprecated) is dropped
            prompt=fields.get("prompt", ""),
            system=fields.get("system"),
            suffix=fields.get("suffix"),
            images=images or None,
            raw=fields.get("raw"),
            template=fields.get("template"),
            stream=bool(fields.get("stream", True)),  # a client that does not stream waits for the whole answer
            **common,
        )
        return Routable(request, asked, fields.get("stream", True), fields)

    def embed(self, body: bytes, client: str) -> Routable[EmbedRequest]:
        fields = decode_body(body, "api.EmbedRequest", EMBED_SCHEMA)
        raw_input = fields.get("input", [])
        if not (isinstance(raw_input, str) or STRINGS.accepts(raw_input)):
            raise ApiError(400, "invalid input type")
        text = raw_input if isinstance(raw_input, str) else [item for item in raw_input if item is not None]
        return self.embedding(fields, text, client)

    def embeddings(self, body: bytes, client: str) -> Routable[EmbedRequest]:
        """The legacy endpoint: one prompt, one vector."""
        fields = decode_body(body, "api.EmbeddingsRequest", EMBEDDINGS_SCHEMA)
        return self.embedding(fields, fields.get("prompt", ""), client)

    def embedding(self, fields: Mapping[str, Any], text: str | list[str], client: str) -> Routable[EmbedRequest]:
        """An embed request from fields in /api/embed's shape and its input texts."""
        asked = fields.get("model", "")
        model = self._model(asked, f'model "{asked}" not found, try pulling it first')
        self._require(model, "embedding", f'"{asked}" does not support embeddings')
        dimensions = fields.get("dimensions")
        if dimensions is not None and dimensions <= 0:
            raise ApiError(400, "dimensions must be a positive integer")
        request = EmbedRequest(
            input=text,
            target=model.pinned_model,
            dimensions=dimensions,
            truncate=fields.get("truncate"),
            options=parse_options(fields.get("options")),
            keep_alive=keep_alive_seconds(fields.get("keep_alive"), "api.EmbedRequest"),
            client=client,
        )
        return Routable(request, asked, stream=False, fields=fields)

    def show(self, body: bytes) -> tuple[str, CatalogueModel]:
        fields = decode_body(body, "api.ShowRequest", SHOW_SCHEMA)
        asked = fields.get("model") or fields.get("name") or ""
        return asked, self._model(asked, f"model '{canonical_name(asked)}' not found", ApiError(400, "model is required"))

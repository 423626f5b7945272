"""Request bodies -> validated emulator requests, with Ollama's status codes and error texts.

Decoding is shared with the `serve` endpoint through zeta_console.ollama_api, which
implements the same Go-style rules; the emulator adds the checks that need the host's models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from zeta_console.ollama_api.decode import STRINGS, decode_body
from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.fields import (
    CHAT_SCHEMA,
    EMBED_SCHEMA,
    EMBEDDINGS_SCHEMA,
    GENERATE_SCHEMA,
    SHOW_SCHEMA,
    check_top_logprobs,
    keep_alive_seconds,
    parse_options,
    parse_think,
)
from zeta_console.ollama_api.names import canonical_name
from zeta_console.sim.content import PromptBlock, chat_blocks, count_tokens
from zeta_console.sim.profiles import HostSpec, ModelProfile

REGISTRY_PREFIX = "registry.ollama.ai/library/"
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")


@dataclass(frozen=True)
class CompletionRequest:
    """A chat or generate request, reduced to what the emulator acts on."""

    asked_model: str  # echoed in replies exactly as sent
    profile: ModelProfile
    prompt: str  # all the text the answer is seeded from
    prompt_tokens: int
    stream: bool
    think: bool
    keep_alive_s: float | None
    num_predict: int | None
    stop: tuple[str, ...]
    raw: bool = False
    blocks: tuple[PromptBlock, ...] = ()  # the prompt as the slots' prompt cache compares it

    @property
    def load_only(self) -> bool:
        return not self.prompt


@dataclass(frozen=True)
class EmbedRequest:
    asked_model: str
    profile: ModelProfile
    inputs: tuple[str, ...]
    dimensions: int | None
    keep_alive_s: float | None
    truncate: bool


def _model_named(host: HostSpec, asked: str, not_found: str) -> ModelProfile:
    if asked and not _VALID_NAME.fullmatch(asked):
        raise ApiError(400, "invalid model name")
    profile = host.model(asked) if asked else None
    if profile is None:
        raise ApiError(404, not_found)
    return profile


def _require(profile: ModelProfile, capability: str, message: str) -> None:
    if capability not in profile.capabilities:
        raise ApiError(400, message)


def _runtime_options(raw: Any) -> dict[str, Any]:
    try:
        return parse_options(raw) or {}
    except ApiError as error:
        raise ApiError(500, error.message) from None  # Ollama reports option type errors as 500


def _completion(host: HostSpec, fields: dict[str, Any], operation: str, struct: str, prompt: str, prompt_tokens: int) -> CompletionRequest:
    asked = fields.get("model", "")
    profile = _model_named(host, asked, f"model '{asked}' not found")
    _require(profile, "completion", f'"{asked}" does not support {operation}')
    think = parse_think(fields.get("think"))
    if think not in (None, False):
        _require(profile, "thinking", f'"{asked}" does not support thinking')
    check_top_logprobs(fields)
    if fields.get("tools"):
        _require(profile, "tools", f"{REGISTRY_PREFIX}{profile.name} does not support tools")
    keep_alive_s = keep_alive_seconds(fields.get("keep_alive"), struct)
    options = _runtime_options(fields.get("options"))
    return CompletionRequest(
        asked_model=asked,
        profile=profile,
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        stream=fields.get("stream", True),
        think=profile.can_think and think is not False,
        keep_alive_s=keep_alive_s,
        num_predict=options.get("num_predict"),
        stop=tuple(options.get("stop", ())),
        raw=bool(fields.get("raw")),
    )


def parse_chat(host: HostSpec, body: bytes) -> CompletionRequest:
    fields = decode_body(body, "api.ChatRequest", CHAT_SCHEMA)
    if not fields.get("model"):
        raise ApiError(400, "model is required")
    messages = [message for message in fields.get("messages", ()) if message is not None]
    turns = [(str(message.get("role") or ""), str(message.get("content") or "")) for message in messages]
    contents = [content for _, content in turns]
    if any(message.get("images") for message in messages):
        profile = _model_named(host, fields["model"], f"model '{fields['model']}' not found")
        _require(profile, "vision", f"{REGISTRY_PREFIX}{profile.name} does not support vision")
    prompt = "\n".join(contents) if messages else ""
    blocks = chat_blocks(turns)
    request = _completion(host, fields, "chat", "api.ChatRequest", prompt, sum(block.tokens for block in blocks))
    return replace(request, blocks=blocks)


def parse_generate(host: HostSpec, body: bytes) -> CompletionRequest:
    fields = decode_body(body, "api.GenerateRequest", GENERATE_SCHEMA)
    request = _completion(host, fields, "generate", "api.GenerateRequest", fields.get("prompt", ""), 0)
    if fields.get("raw") and ("template" in fields or "system" in fields or "context" in fields):
        raise ApiError(400, "raw mode does not support template, system, or context")
    if fields.get("suffix"):
        _require(request.profile, "insert", f"{REGISTRY_PREFIX}{request.profile.name} does not support insert")
    if fields.get("images"):
        _require(request.profile, "vision", f"{REGISTRY_PREFIX}{request.profile.name} does not support vision")
    if not request.prompt:
        return request
    text = "\n".join(part for part in (fields.get("system", ""), request.prompt, fields.get("suffix", "")) if part)
    tokens = count_tokens(text) + (0 if request.raw else len(fields.get("context", ())))
    return replace(request, prompt=text, prompt_tokens=tokens, blocks=(PromptBlock.of("generate", text),))


def _embedding_request(host: HostSpec, fields: dict[str, Any], inputs: tuple[str, ...], struct: str) -> EmbedRequest:
    asked = fields.get("model", "")
    profile = _model_named(host, asked, f'model "{asked}" not found, try pulling it first')
    _runtime_options(fields.get("options"))
    return EmbedRequest(
        asked_model=asked,
        profile=profile,
        inputs=inputs,
        dimensions=fields.get("dimensions"),
        keep_alive_s=keep_alive_seconds(fields.get("keep_alive"), struct),
        truncate=fields.get("truncate", True),
    )


def parse_embed(host: HostSpec, body: bytes) -> EmbedRequest:
    fields = decode_body(body, "api.EmbedRequest", EMBED_SCHEMA)
    raw_input = fields.get("input", [])
    if isinstance(raw_input, str):
        inputs: tuple[str, ...] = (raw_input,) if raw_input else ()
    elif STRINGS.accepts(raw_input):
        inputs = tuple(item for item in raw_input if item is not None)
    else:
        raise ApiError(400, "invalid input type")
    request = _embedding_request(host, fields, inputs, "api.EmbedRequest")
    context = host.runner_context_length(request.profile)
    if not request.truncate and any(count_tokens(text) > context for text in inputs):
        raise ApiError(400, "the input length exceeds the context length")
    return request


def parse_embeddings(host: HostSpec, body: bytes) -> EmbedRequest:
    fields = decode_body(body, "api.EmbeddingsRequest", EMBEDDINGS_SCHEMA)
    prompt = fields.get("prompt", "")
    return _embedding_request(host, fields, (prompt,) if prompt else (), "api.EmbeddingsRequest")


def parse_show(host: HostSpec, body: bytes) -> ModelProfile:
    fields = decode_body(body, "api.ShowRequest", SHOW_SCHEMA)
    asked = fields.get("model") or fields.get("name") or ""
    if not asked:
        raise ApiError(400, "model is required")
    return _model_named(host, asked, f"model '{canonical_name(asked)}' not found")

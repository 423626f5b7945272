"""Ollama's reply shapes: field order, omitted zero metrics, timestamps, NDJSON lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zeta_console.ollama_api.timestamps import utc_timestamp

CHAT = "chat"
GENERATE = "generate"
FOREVER_S = 292 * 365.25 * 86400  # Ollama shows an infinite keep-alive ~292 years ahead
_GO_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def local_timestamp(moment: float) -> str:
    """The server's local zone with its offset (/api/ps expires_at, /api/tags modified_at)."""
    return datetime.fromtimestamp(min(moment, 1e13)).astimezone().isoformat()


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON as Go's encoder writes it (`<`, `>`, `&` escaped)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if "<" in text or ">" in text or "&" in text:
        text = text.translate(_GO_ESCAPES)
    return text.encode()


def ndjson_line(payload: dict[str, Any]) -> bytes:
    return encode(payload) + b"\n"


@dataclass(frozen=True)
class Metrics:
    """Durations in wall-clock nanoseconds; zero values are omitted on the wire."""

    total_ns: int
    load_ns: int
    prompt_eval_count: int  # evaluated prompt tokens: what the prompt cache did not serve
    prompt_eval_ns: int
    eval_count: int
    eval_ns: int
    prompt_eval_cached_count: int = 0  # served from the slot's prompt cache (Ollama PR #17943; llama.cpp's cache_n)

    def fields(self) -> dict[str, int]:
        named = {
            "total_duration": self.total_ns,
            "load_duration": self.load_ns,
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_eval_cached_count": self.prompt_eval_cached_count,
            "prompt_eval_duration": self.prompt_eval_ns,
            "eval_count": self.eval_count,
            "eval_duration": self.eval_ns,
        }
        return {name: value for name, value in named.items() if value}


def _text_fields(kind: str, content: str, thinking: str) -> dict[str, Any]:
    if kind == CHAT:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message["thinking"] = thinking
        return {"message": message}
    fields: dict[str, Any] = {"response": content}
    if thinking:
        fields["thinking"] = thinking
    return fields


def partial_reply(kind: str, model: str, moment: float, content: str, thinking: str) -> dict[str, Any]:
    return {"model": model, "created_at": utc_timestamp(moment), **_text_fields(kind, content, thinking), "done": False}


def final_reply(
    kind: str,
    model: str,
    moment: float,
    done_reason: str,
    metrics: Metrics | None = None,
    content: str = "",
    thinking: str = "",
    context: list[int] | None = None,
) -> dict[str, Any]:
    reply: dict[str, Any] = {"model": model, "created_at": utc_timestamp(moment), **_text_fields(kind, content, thinking), "done": True}
    if done_reason:
        reply["done_reason"] = done_reason
    if context is not None:
        reply["context"] = context
    if metrics is not None:
        reply.update(metrics.fields())
    return reply

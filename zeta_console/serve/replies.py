"""Neutral deltas -> what the client sees: Ollama's NDJSON lines, aggregated replies, decision headers.

The `model` field always echoes the name the client asked for (ollama-api.md §1.0), whatever
real model served it; the real one is in the X-Zeta-Model header. Fields come in the order the
ollama client writes them, serialised by pydantic's encoder (the same bytes as before the
backend seam); `created_at` is the moment this endpoint wrote the line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic_core import to_json

from zeta_console.backends.types import Delta, Embeddings, FinalTimings, ToolCall
from zeta_console.ollama_api.timestamps import utc_timestamp
from zeta_console.router.api import Decision
from zeta_console.serve.envelope import OLLAMA

HEADER_VALUE_LIMIT = 512
_NOT_HEADER_SAFE = re.compile(r"[^\x20-\x7e]+")


class Shape(StrEnum):
    """Which Ollama reply a stream is written as."""

    CHAT = "chat"  # text in `message`
    GENERATE = "generate"  # text in `response`


def _nanoseconds(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1e9)


def _stats(final: FinalTimings) -> dict[str, Any]:
    """The done chunk's fields, those the server reported."""
    named = {
        "done_reason": final.done_reason,
        "total_duration": _nanoseconds(final.total_s),
        "load_duration": _nanoseconds(final.load_s),
        "prompt_eval_count": final.prompt_tokens,
        "prompt_eval_duration": _nanoseconds(final.prefill_s),
        "eval_count": final.output_tokens,
        "eval_duration": _nanoseconds(final.decode_s),
    }
    return {name: value for name, value in named.items() if value is not None}


def _tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [{"function": {"name": call.name, "arguments": call.arguments}} for call in calls]


def _text(shape: Shape, content: str, thinking: str, tool_calls: Sequence[ToolCall]) -> dict[str, Any]:
    if shape is Shape.CHAT:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message["thinking"] = thinking
        if tool_calls:
            message["tool_calls"] = _tool_calls(tool_calls)
        return {"message": message}
    return {"response": content, "thinking": thinking} if thinking else {"response": content}


def _reply(shape: Shape, asked_model: str, final: FinalTimings | None, text: dict[str, Any]) -> bytes:
    head: dict[str, Any] = {"model": asked_model, "created_at": utc_timestamp(time.time()), "done": final is not None}
    if final is not None:
        head |= _stats(final)
    return to_json(head | text)


def ndjson_line(delta: Delta, asked_model: str, shape: Shape) -> bytes:
    return _reply(shape, asked_model, delta.final, _text(shape, delta.content, delta.thinking, delta.tool_calls)) + b"\n"


class OllamaWire:
    """One answer in Ollama's dialect: NDJSON lines, or for `stream: false` the single object made
    of the final chunk with the text of all chunks concatenated and every tool call merged
    (ollama-api.md §1.3, §1.4)."""

    envelope = OLLAMA

    def __init__(self, asked_model: str, shape: Shape) -> None:
        self._asked_model = asked_model
        self._shape = shape
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[ToolCall] = []
        self._final: FinalTimings | None = None

    def chunk(self, delta: Delta) -> bytes:
        return ndjson_line(delta, self._asked_model, self._shape)

    def end(self) -> bytes:
        return b""

    def add(self, delta: Delta) -> None:
        self._content.append(delta.content)
        self._thinking.append(delta.thinking)
        self._tool_calls.extend(delta.tool_calls)
        self._final = delta.final

    def reply(self) -> bytes:
        text = _text(self._shape, "".join(self._content), "".join(self._thinking), self._tool_calls)
        return _reply(self._shape, self._asked_model, self._final, text)


def embed_json(result: Embeddings, asked_model: str) -> bytes:
    """/api/embed's reply: the vectors with the durations and count the server reported."""
    stats = _stats(result.timings)
    stats.pop("done_reason", None)
    return to_json({"model": asked_model, **stats, "embeddings": result.embeddings})


def header_safe(text: str) -> str:
    """Header values must be visible ASCII on one line: anything else becomes a space."""
    if not (text.isascii() and text.isprintable()):  # printable ASCII is exactly what a header value may hold
        text = _NOT_HEADER_SAFE.sub(" ", text)
    return text.strip()[:HEADER_VALUE_LIMIT]


def decision_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The `X-Zeta-*` headers, as ASGI header pairs (lower-case names, ASCII values)."""
    chosen = next((candidate for candidate in decision.candidates if candidate.endpoint == decision.chosen), None)
    return [
        (b"x-zeta-endpoint", header_safe(decision.chosen or "").encode("ascii")),
        (b"x-zeta-model", header_safe(chosen.model if chosen else "").encode("ascii")),
        (b"x-zeta-task", header_safe(decision.classification.task.value).encode("ascii")),
        (b"x-zeta-reason", header_safe(decision.reason).encode("ascii")),
        (b"x-zeta-fallbacks", header_safe(",".join(decision.fallbacks)).encode("ascii")),
    ]

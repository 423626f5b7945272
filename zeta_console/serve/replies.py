"""Upstream chunks -> what the client sees: NDJSON lines, aggregated replies, decision headers.

The `model` field always echoes the name the client asked for (ollama-api.md §1.0), whatever
real model served it; the real one is in the X-Zeta-Model header.
"""

from __future__ import annotations

import re

import ollama

from zeta_console.router.api import Decision

Chunk = ollama.ChatResponse | ollama.GenerateResponse
HEADER_VALUE_LIMIT = 512
_NOT_HEADER_SAFE = re.compile(r"[^\x20-\x7e]+")


def reply_json(reply: Chunk | ollama.EmbedResponse, asked_model: str) -> bytes:
    return reply.model_copy(update={"model": asked_model}).model_dump_json(exclude_none=True).encode()


def ndjson_line(chunk: Chunk, asked_model: str) -> bytes:
    return reply_json(chunk, asked_model) + b"\n"


class ReplyAccumulator:
    """Builds the single object of a `stream: false` reply: the final chunk with the text of
    all chunks concatenated and every tool call merged (ollama-api.md §1.3, §1.4)."""

    def __init__(self) -> None:
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[ollama.Message.ToolCall] = []
        self._last: Chunk | None = None

    def add(self, chunk: Chunk) -> None:
        self._last = chunk
        if isinstance(chunk, ollama.ChatResponse):
            self._content.append(chunk.message.content or "")
            self._thinking.append(chunk.message.thinking or "")
            self._tool_calls.extend(chunk.message.tool_calls or ())
        else:
            self._content.append(chunk.response or "")
            self._thinking.append(chunk.thinking or "")

    def reply(self, asked_model: str) -> bytes:
        assert self._last is not None, "a reply needs at least one chunk"
        thinking = "".join(self._thinking) or None
        if isinstance(self._last, ollama.ChatResponse):
            message = self._last.message.model_copy(
                update={"content": "".join(self._content), "thinking": thinking, "tool_calls": self._tool_calls or None}
            )
            merged: Chunk = self._last.model_copy(update={"message": message})
        else:
            merged = self._last.model_copy(update={"response": "".join(self._content), "thinking": thinking})
        return reply_json(merged, asked_model)


def header_safe(text: str) -> str:
    """Header values must be visible ASCII on one line: anything else becomes a space."""
    return _NOT_HEADER_SAFE.sub(" ", text).strip()[:HEADER_VALUE_LIMIT]


def decision_headers(decision: Decision, served_model: str | None) -> dict[str, str]:
    chosen = next((candidate for candidate in decision.candidates if candidate.endpoint == decision.chosen), None)
    return {
        "X-Zeta-Endpoint": header_safe(decision.chosen or ""),
        "X-Zeta-Model": header_safe((chosen.model if chosen else served_model) or ""),
        "X-Zeta-Task": header_safe(decision.classification.task.value),
        "X-Zeta-Reason": header_safe(decision.reason),
        "X-Zeta-Fallbacks": header_safe(",".join(decision.fallbacks)),
    }

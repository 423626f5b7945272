"""What callers hand the router: one request type per Ollama operation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zeta_console.settings import Task

CHARS_PER_TOKEN = 4  # rough estimate for deadlines and prefill prediction; the real count comes back in the final chunk


def output_cap(options: Mapping[str, Any] | None) -> int | None:
    """The request's own limit on output tokens (`num_predict`), if it sets a positive one."""
    value = options.get("num_predict") if options else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True)
class ChatRequest:
    messages: Sequence[Mapping[str, Any]]
    task: Task | None = None  # explicit task: skips the classifier
    target: str | None = None  # a tier or an Ollama model name: pins this request
    think: bool | str | None = None
    options: Mapping[str, Any] | None = None
    format: str | Mapping[str, Any] | None = None
    keep_alive: float | str | None = None
    tools: Sequence[Any] | None = None
    client: str = "local"
    interactive: bool = False  # the operator's own prompt: ahead of background load in the queue
    # True: someone reads the answer as it streams (ranked by TTFT + decode slower than reading);
    # False: the caller waits for the whole answer (ranked by predicted completion).
    stream: bool = True
    session: str | None = None  # the caller's conversation (X-Zeta-Session); None: the opening messages name it

    def capabilities_needed(self) -> frozenset[str]:
        needs = {"completion"}
        if self.think:
            needs.add("thinking")
        if self.tools:
            needs.add("tools")
        if any(message.get("images") for message in self.messages):
            needs.add("vision")
        return frozenset(needs)

    def prompt_text(self) -> str:
        """The text the classifier reads: the last user message."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""

    def estimated_prompt_tokens(self) -> int:
        return max(1, sum(len(str(message.get("content") or "")) for message in self.messages) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    system: str | None = None
    task: Task | None = None
    target: str | None = None
    think: bool | str | None = None
    options: Mapping[str, Any] | None = None
    format: str | Mapping[str, Any] | None = None
    keep_alive: float | str | None = None
    suffix: str | None = None  # fill-in-the-middle: needs the `insert` capability
    images: Sequence[bytes] | None = None  # needs `vision`
    raw: bool | None = None
    template: str | None = None
    client: str = "local"
    interactive: bool = False
    stream: bool = True  # as ChatRequest.stream
    session: str | None = None  # the caller's conversation (X-Zeta-Session): a generate call has no other

    def capabilities_needed(self) -> frozenset[str]:
        needs = {"completion"}
        if self.think:
            needs.add("thinking")
        if self.suffix:
            needs.add("insert")
        if self.images:
            needs.add("vision")
        return frozenset(needs)

    def prompt_text(self) -> str:
        return self.prompt

    def estimated_prompt_tokens(self) -> int:
        return max(1, (len(self.prompt) + len(self.system or "")) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class EmbedRequest:
    input: str | Sequence[str]
    target: str | None = None
    dimensions: int | None = None
    truncate: bool | None = None
    options: Mapping[str, Any] | None = None
    keep_alive: float | str | None = None
    client: str = "local"
    interactive: bool = False

    def capabilities_needed(self) -> frozenset[str]:
        return frozenset({"embedding"})

    def prompt_text(self) -> str:
        return self.input if isinstance(self.input, str) else "\n".join(self.input)

    def estimated_prompt_tokens(self) -> int:
        return max(1, len(self.prompt_text()) // CHARS_PER_TOKEN)


StreamRequest = ChatRequest | GenerateRequest
AnyRequest = ChatRequest | GenerateRequest | EmbedRequest

"""The neutral types every backend speaks: what comes back from a model server, and its errors.

The router, `serve` and the console read only these, whatever kind of server answered (Ollama's
native API, an OpenAI-compatible one). Each backend module converts its client's replies and
exceptions into them; nothing above `backends/` sees a client library's types.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    """What went wrong, in the router's terms (ollama-api.md §2.6, backends-api.md §1.4)."""

    UNAVAILABLE = "unavailable"  # connection refused / reset, host down
    BUSY = "busy"  # 503 / 429, server busy, queue full: load, not failure
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"  # 4xx caused by the request: never retried elsewhere
    FAILED_MID_STREAM = "failed_mid_stream"
    TIMED_OUT = "timed_out"
    SERVER_ERROR = "server_error"  # 5xx before the first token


class BackendError(Exception):
    """Every failure a backend reports: a kind, a message fit to show, the HTTP status if any."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}" + (f" (HTTP {self.status})" if self.status and self.status > 0 else "")


def kind_for_status(status: int) -> ErrorKind:
    """The kind of an HTTP error status, the same for every kind of server."""
    if status == 503 or status == 429:
        return ErrorKind.BUSY
    if status == 404:
        return ErrorKind.NOT_FOUND
    if 400 <= status < 500:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.SERVER_ERROR


@dataclass(frozen=True, slots=True)
class FinalTimings:
    """How a reply ended and what it cost, in seconds; None where the server did not say.

    Ollama reports every duration; an OpenAI-compatible server reports token counts (`usage`)
    and, for llama.cpp, prefill and decode times (`timings`)."""

    total_s: float | None
    load_s: float | None
    prompt_tokens: int | None
    prefill_s: float | None
    output_tokens: int | None
    decode_s: float | None
    done_reason: str | None = None  # "stop", "length", "load", "unload", "tool_calls", ...
    cached_prompt_tokens: int | None = None  # of prompt_tokens, reused from the server's prompt cache (llama.cpp)

    @property
    def decode_tps(self) -> float | None:
        if self.output_tokens and self.decode_s:
            return self.output_tokens / self.decode_s
        return None

    @property
    def evaluated_prompt_tokens(self) -> int:
        """The prompt tokens the server had to read: those not reused from its prompt cache."""
        return (self.prompt_tokens or 0) - (self.cached_prompt_tokens or 0)

    @property
    def prefill_s_per_token(self) -> float | None:
        evaluated = self.evaluated_prompt_tokens
        if evaluated > 0 and self.prefill_s is not None:
            return self.prefill_s / evaluated
        return None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asks for, its arguments parsed (OpenAI streams them as JSON
    text fragments: the backend joins and parses them before handing the call out)."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(slots=True)
class Delta:
    """One piece of a streamed answer. The last piece of a stream, and only it, has `final`.

    Read-only by convention, not frozen: one is built per chunk on the router's hot path, and a
    frozen dataclass's __init__ costs about twice as much (0.42 vs 0.17 µs)."""

    content: str = ""
    thinking: str = ""  # Ollama's `thinking`, OpenAI servers' `reasoning_content` / `reasoning`
    tool_calls: tuple[ToolCall, ...] = ()
    final: FinalTimings | None = None


# What chat and generate return: iterate it, `aclose()` it to cancel (the server stops generating).
DeltaStream = AsyncGenerator[Delta, None]


@dataclass(slots=True)
class RawChunk:
    """Bytes of an answer relayed as the server wrote them, for a client that speaks the server's
    own dialect (serve's pass-through). The last chunk of a stream, and only it, has `final`."""

    data: bytes
    final: FinalTimings | None = None


# A relayed answer: iterate it, `aclose()` it to cancel (the server stops generating).
RawStream = AsyncGenerator[RawChunk, None]


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The answer to an embed request: one vector per input, in order."""

    embeddings: Sequence[Sequence[float]]
    timings: FinalTimings


@dataclass(frozen=True, slots=True)
class RawReply:
    """A whole answer relayed as the server wrote it (an embedding), with what it cost."""

    body: bytes
    timings: FinalTimings


@dataclass(frozen=True, slots=True)
class ResidentModel:
    """A model loaded on the host (Ollama's /api/ps; llama.cpp's router mode reports `loaded`)."""

    model: str
    size_bytes: int | None
    size_vram_bytes: int | None
    expires_at: float | None  # wall clock


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A model the host can serve without downloading it (/api/tags, /v1/models)."""

    name: str  # as the server reports it, tag included ("llama3.1:8b", "nomic-embed-text:latest")
    size_bytes: int | None  # on disk
    parameter_size: str | None  # "8.0B"
    family: str | None


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the server says about one model (/api/show)."""

    capabilities: frozenset[str] | None  # None when the server does not report them
    parameter_size: str | None
    parameter_count: int | None


@dataclass(frozen=True, slots=True)
class QueueSignals:
    """The host's own view of its load, where it has one (backends-api.md §8): llama.cpp's
    /slots and /metrics, vLLM's and SGLang's /metrics. Ollama has none.

    A field is None when the server did not say (a failed or malformed scrape leaves the
    fields it could not read None: unknown, never zero)."""

    server: str | None = None  # what answered, as shown to people: "llama.cpp", "vLLM", "SGLang"
    running: int | None = None  # requests being processed
    waiting: int | None = None  # requests queued or deferred
    slots: int | None = None  # how many it runs at once
    kv_cache_usage: float | None = None  # 0..1

    @property
    def known(self) -> bool:
        """The server said how many requests it is running (the figure the router combines with its own)."""
        return self.running is not None

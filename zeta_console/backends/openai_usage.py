"""What an OpenAI-compatible server says a request cost: `usage` and llama.cpp's `timings`, read
from the openai client's objects or from relayed JSON (no client import: serve's pass-through uses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zeta_console.backends.types import FinalTimings


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def final_timings(usage: Any, timings: Any, done_reason: str | None) -> FinalTimings:
    """`usage` (token counts, any server) and llama.cpp's `timings` (milliseconds, cached prompt tokens)."""
    timings = timings if isinstance(timings, Mapping) else {}
    prompt_ms, predicted_ms = number(timings.get("prompt_ms")), number(timings.get("predicted_ms"))
    prefill_s = prompt_ms / 1000 if prompt_ms is not None else None
    decode_s = predicted_ms / 1000 if predicted_ms is not None else None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = count(timings.get("cache_n"))
    return FinalTimings(
        total_s=prefill_s + decode_s if prefill_s is not None and decode_s is not None else None,
        load_s=None,
        prompt_tokens=count(getattr(usage, "prompt_tokens", None)),
        prefill_s=prefill_s,
        output_tokens=count(getattr(usage, "completion_tokens", None)),
        decode_s=decode_s,
        done_reason=done_reason,
        cached_prompt_tokens=cached if cached is not None else count(getattr(details, "cached_tokens", None)),
    )

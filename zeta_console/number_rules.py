"""The bounds of every number setting, keyed by the field's name, stated once.

`config.py` applies them to each number in a configuration file; `threshold_value` applies the
same rules to a threshold the operator changes while the router runs (the router's
`set_threshold`, the console's Controls screen; `tier_tolerance_value` likewise), so a value refused
in the file is refused live.

A number field without an entry in _RANGES gets its kind's default range, so a new setting is
bounded without code here; an entry only narrows or widens it. `*_s` fields are durations:
seconds or "500ms", "2s", "5m".
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zeta_console.settings import Thresholds
from zeta_console.yaml_source import describe, unknown

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_HINT = 'seconds, or e.g. "500ms", "2s", "5m"'


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    low_included: bool  # False: the value must be above `low` ("positive")


_DAY_S = 86_400.0
_COUNT = _Range(1, 1_000_000, low_included=True)  # integers: counts and sizes
_POSITIVE = _Range(0, 1_000_000, low_included=False)
_DURATION_RANGE = _Range(0, _DAY_S, low_included=False)  # `*_s` fields: nothing here waits longer than a day
_FRACTION = _Range(0, 1, low_included=True)
_RATE = _Range(0, 10_000, low_included=True)
_RANGES: Mapping[str, _Range] = {
    "queue": _Range(1, 100_000, low_included=True),
    "slots": _Range(1, 1024, low_included=True),  # OLLAMA_NUM_PARALLEL
    "max_attempts": _Range(1, 100, low_included=True),
    "consecutive_failures": _Range(1, 10_000, low_included=True),
    "retention_rows": _Range(1, 1_000_000_000, low_included=True),
    "max_body_bytes": _Range(1, 2**30, low_included=True),  # 1 GiB
    "error_rate": _FRACTION,
    "ratio": _FRACTION,
    "explore_rate": _FRACTION,
    "margin": _Range(0, 100, low_included=True),  # affinity: 0 = stay only while the holder is the best
    "confidence_threshold": _FRACTION,
    "min_per_s": _RATE,
    "rate_per_s": _RATE,
    "min_weight": _Range(0, 100, low_included=False),
    "max_weight": _Range(0, 100, low_included=False),
    "reading_s_per_token": _Range(0, 60, low_included=True),  # 0: a reader notices all of the decode
    "first_token_weight": _Range(0, 100, low_included=True),  # 0: rank whole-answer callers by completion alone
    "hold_weight": _Range(0, 100, low_included=True),  # 0: a streamed answer's slot time not charged for the requests behind it
    "tier_tolerance": _Range(1, 100, low_included=True),  # adaptive: 1 = time alone, no preference for the route's order
    "refresh_hz": _Range(0, 60, low_included=False),
    "first_token_per_1k_prompt_tokens_s": _Range(0, _DAY_S, low_included=True),
    "delay_s": _Range(0, _DAY_S, low_included=True),  # hedging: 0 means "the request's predicted TTFT at `percentile`"
    "percentile": _Range(0.5, 0.999, low_included=True),  # hedging: 1 would never be late
}
_THRESHOLD_TYPES: Mapping[str, type] = typing.get_type_hints(Thresholds)


def parse_duration(text: str) -> float | None:
    """Seconds in "500ms", "2s", "1.5m", "1h"; None when `text` is not such a duration."""
    match = _DURATION.match(text)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)] if match else None


def number_value(value: Any, hint: type, field: str) -> float | int | None:
    """`value` as the field's type (int or float; a duration string in seconds); None when it is not one."""
    if isinstance(value, bool):
        return None
    if hint is int:
        return value if isinstance(value, int) else None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _is_duration(field):
        return parse_duration(value)
    return None


def number_problem(value: Any, hint: type, field: str) -> str | None:
    """Why `value` is not a valid `field` of type `hint` ("expected a positive integer, got -3"), or None."""
    number = number_value(value, hint, field)
    bounds = _range(hint, field)
    expectation = _expectation(hint, field, bounds)
    above_low = number is not None and (number >= bounds.low if bounds.low_included else number > bounds.low)
    if number is None or not math.isfinite(number) or not above_low or (number > bounds.high and _is_fraction(field, bounds)):
        return f"expected {expectation}, got {describe(value)}"
    if number > bounds.high:
        high = f"{bounds.high:.0f}" if bounds.high == int(bounds.high) else f"{bounds.high:g}"
        limit = f"a duration of at most {high} seconds" if _is_duration(field) else f"at most {high}"
        return f"expected {limit}, got {describe(value)}"
    return None


def threshold_value(name: str, value: Any) -> float | int:
    """Threshold `name` set to `value`, checked by the rules the configuration file's `thresholds` follow.

    `value` is a number or text as the operator types it ("4", "0.5", "500ms"). Raises ValueError
    with one line naming the threshold: `thresholds.queue: expected a positive integer, got "lots"`.
    """
    hint = _THRESHOLD_TYPES.get(name)
    if hint is None:
        raise ValueError(unknown("threshold", name, list(_THRESHOLD_TYPES)))
    return _live_value("thresholds", name, hint, value)


def tier_tolerance_value(value: Any) -> float:
    """`adaptive.tier_tolerance` set live (the Controls screen), by the configuration file's rule; ValueError as above."""
    return float(_live_value("adaptive", "tier_tolerance", float, value))


def _live_value(section: str, name: str, hint: type, value: Any) -> float | int:
    given = _from_text(value.strip()) if isinstance(value, str) else value
    problem = number_problem(given, hint, name)
    number = number_value(given, hint, name)
    if problem is not None or number is None:
        raise ValueError(f"{section}.{name}: {problem}")
    return number


def _from_text(text: str) -> int | float | str:
    """Typed text as the number YAML would read from it; anything else stays text (a duration, a mistake)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _is_duration(field: str) -> bool:
    return field.endswith("_s") and not field.endswith("_per_s")


def _range(hint: type, field: str) -> _Range:
    if field in _RANGES:
        return _RANGES[field]
    if hint is int:
        return _COUNT
    return _DURATION_RANGE if _is_duration(field) else _POSITIVE


def _is_fraction(field: str, bounds: _Range) -> bool:
    return bounds == _FRACTION and not _is_duration(field)


def _expectation(hint: type, field: str, bounds: _Range) -> str:
    if _is_fraction(field, bounds):
        return f"a number between {bounds.low:g} and 1"
    if hint is int:
        return "a positive integer" if bounds.low == 1 else f"an integer >= {bounds.low:g}"
    size = "positive" if not bounds.low_included else f">= {bounds.low:g}"
    if _is_duration(field):
        return f"a positive duration ({_DURATION_HINT})" if size == "positive" else f"a duration {size} ({_DURATION_HINT})"
    return "a positive number" if size == "positive" else f"a number {size}"

"""Request fields shared by every Ollama endpoint: schemas, options, think, keep_alive.

Each parser raises `ApiError` with Ollama's status and wording (ollama-api.md §1.3, §2.2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from zeta_console.ollama_api.decode import BOOL, INT, OBJECT, STRING, STRINGS, GoType, is_finite_number, list_of, type_error
from zeta_console.ollama_api.errors import ApiError

THINK_LEVELS = frozenset({"low", "medium", "high", "max"})
INT_OPTIONS = frozenset(
    {
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "draft_num_predict",
        "mirostat",
    }
)
FLOAT_OPTIONS = frozenset(
    {
        "top_p",
        "min_p",
        "typical_p",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "tfs_z",
        "mirostat_tau",
        "mirostat_eta",
    }
)
BOOL_OPTIONS = frozenset({"numa", "low_vram", "use_mmap", "use_mlock", "penalize_newline", "shift"})
ANY = GoType("json.RawMessage", lambda value: True)

_COMMON_INFERENCE = {"model": STRING, "stream": BOOL, "options": OBJECT, "format": ANY, "keep_alive": ANY, "think": ANY}
CHAT_SCHEMA = {
    **_COMMON_INFERENCE,
    "messages": list_of(OBJECT, "[]api.Message"),
    "tools": list_of(OBJECT, "api.Tools"),
    "top_logprobs": INT,
}
GENERATE_SCHEMA = {
    **_COMMON_INFERENCE,
    "prompt": STRING,
    "suffix": STRING,
    "system": STRING,
    "template": STRING,
    "context": list_of(INT),
    "raw": BOOL,
    "images": STRINGS,
    "top_logprobs": INT,
}
EMBED_SCHEMA = {"model": STRING, "input": ANY, "truncate": BOOL, "dimensions": INT, "options": OBJECT, "keep_alive": ANY}
EMBEDDINGS_SCHEMA = {"model": STRING, "prompt": STRING, "options": OBJECT, "keep_alive": ANY}
SHOW_SCHEMA = {"model": STRING, "name": STRING, "verbose": BOOL}
MESSAGE_SCHEMA = {
    "role": STRING,
    "content": STRING,
    "thinking": STRING,
    "images": STRINGS,
    "tool_name": STRING,
    "tool_calls": list_of(OBJECT),
}

_DURATION_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
MAX_DURATION_S = (2**63 - 1) * 1e-9  # Go's time.Duration is int64 nanoseconds



def go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def keep_alive_seconds(value: Any, struct: str) -> float | None:
    """Ollama's api.Duration: a number of seconds or a Go duration string; forwarded as seconds."""
    if value is None:
        return None
    if is_finite_number(value):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_go_duration(value)
    else:
        raise type_error(struct, "keep_alive", "api.Duration", value)
    if abs(seconds) > MAX_DURATION_S:
        raise ApiError(400, f"time: invalid duration {go_quote(str(value))}")
    return seconds


def parse_go_duration(text: str) -> float:
    if text in ("0", "+0", "-0"):
        return 0.0
    match = _DURATION.fullmatch(text)
    if match is None:
        missing_unit = re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", text) is not None
        raise ApiError(400, f"time: {'missing unit in' if missing_unit else 'invalid'} duration {go_quote(text)}")
    sign = -1.0 if match.group(1) == "-" else 1.0
    return sign * sum(float(number) * _DURATION_UNITS_S[unit] for number, unit in _DURATION_PART.findall(match.group(2)))


def parse_think(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in THINK_LEVELS:
        return value
    raise ApiError(400, f"invalid think value: {go_quote(value) if isinstance(value, str) else json.dumps(value)}")


def parse_options(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Known options, type-checked (Ollama answers a wrong type with a 500; it is the client's
    mistake, so a 400 here). Unknown keys are dropped, as Ollama ignores them."""
    if not value:
        return None
    options: dict[str, Any] = {}
    for key, option in value.items():
        if option is None:
            continue
        if key in INT_OPTIONS:
            if not is_finite_number(option) or abs(option) >= 2**31:
                raise ApiError(400, f'option "{key}" must be of type integer')
            options[key] = int(option)
        elif key in FLOAT_OPTIONS:
            if not is_finite_number(option):
                raise ApiError(400, f'option "{key}" must be of type float')
            options[key] = float(option)
        elif key in BOOL_OPTIONS:
            if not isinstance(option, bool):
                raise ApiError(400, f'option "{key}" must be of type boolean')
            options[key] = option
        elif key == "stop":
            if not STRINGS.accepts(option) and not isinstance(option, str):
                raise ApiError(400, 'option "stop" must be of type array of strings')
            options[key] = [option] if isinstance(option, str) else [item for item in option if item is not None]
    return options or None


def check_top_logprobs(fields: Mapping[str, Any]) -> None:
    if not 0 <= fields.get("top_logprobs", 0) <= 20:
        raise ApiError(400, "top_logprobs must be between 0 and 20")

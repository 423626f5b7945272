"""Request bodies decoded the way Ollama's Go server decodes them, with its error texts.

Ollama binds JSON into Go structs: an empty body is "missing request body", a syntax error is
reported by Go's scanner, a value of the wrong type is "json: cannot unmarshal <kind> into Go
struct field <Struct>.<field> of type <type>", `null` leaves a field unset and unknown fields
are ignored. The texts are approximations of Go's where Python's parser reports differently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from zeta_console.ollama_api.errors import ApiError

INT64_RANGE = range(-(2**63), 2**63)

# Python's json error message -> what Go's scanner says after the offending character.
_GO_SYNTAX_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Extra data": "after top-level value",
    "Invalid control character at": "in string literal",
    "Invalid \\escape": "in string escape code",
}


@dataclass(frozen=True)
class GoType:
    """A Go field type: its name in error messages and which JSON values it accepts."""

    name: str
    accepts: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in INT64_RANGE


def list_of(element: GoType, name: str | None = None) -> GoType:
    return GoType(
        name or f"[]{element.name}",
        lambda value: isinstance(value, list) and all(item is None or element.accepts(item) for item in value),
    )


STRING = GoType("string", lambda value: isinstance(value, str))
BOOL = GoType("bool", lambda value: isinstance(value, bool))
INT = GoType("int", _is_int)
OBJECT = GoType("map[string]interface {}", lambda value: isinstance(value, dict))
STRINGS = list_of(STRING)
FLOAT = GoType("float64", lambda value: is_finite_number(value))

Schema = Mapping[str, GoType]


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}" if not _is_int(value) else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def type_error(struct: str, field: str, go_type: str, value: Any) -> ApiError:
    return ApiError(400, f"json: cannot unmarshal {json_kind(value)} into Go struct field {struct}.{field} of type {go_type}")


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _syntax_error(error: json.JSONDecodeError) -> ApiError:
    if error.pos >= len(error.doc.rstrip()):
        return ApiError(400, "unexpected EOF")
    context = next((go for python, go in _GO_SYNTAX_CONTEXT.items() if error.msg.startswith(python)), "in JSON")
    return ApiError(400, f"invalid character {error.doc[error.pos]!r} {context}")


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _without_lone_surrogates(value: Any) -> Any:
    """Go replaces an unpaired `\\ud800` escape with U+FFFD; Python keeps it, and it would
    later fail to encode as UTF-8 on the way upstream."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item) for key, item in value.items()}
    return value


def parse_json_object(body: bytes, struct: str) -> dict[str, Any]:
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        raise ApiError(400, "missing request body")
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise _syntax_error(error) from None
    except (ValueError, RecursionError) as error:
        # RecursionError: absurd nesting; Go's decoder answers with a depth error, also a 400.
        raise ApiError(400, str(error) if isinstance(error, ValueError) else "exceeded max depth") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, f"json: cannot unmarshal {json_kind(parsed)} into Go value of type {struct}")
    return _without_lone_surrogates(parsed) if "\\u" in text else parsed


def decode_body(body: bytes, struct: str, schema: Schema) -> dict[str, Any]:
    """The request's known, non-null fields, each type-checked; raises ApiError(400)."""
    parsed = parse_json_object(body, struct)
    fields: dict[str, Any] = {}
    for name, go_type in schema.items():
        value = parsed.get(name)
        if value is None:
            continue
        if not go_type.accepts(value):
            raise type_error(struct, name, go_type.name, value)
        fields[name] = value
    return fields


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

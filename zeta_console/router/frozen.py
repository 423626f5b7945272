"""Frozen dataclass instances built on the hot path.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`: 3.2 µs for the 27 fields of an
`EndpointState`, built for every endpoint on every decision. `frozen(cls, **fields)` makes the same instance
(equal, hashable, immutable) in 1.2 µs by handing it the fields as its `__dict__`.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__


def frozen(cls: type[T], /, **fields: object) -> T:
    """`cls(**fields)` for a frozen dataclass with no `__post_init__` and no slots. Give every field: one left
    out would read the class's default (a `default_factory` field would have none); tests/test_frozen.py
    checks that each caller's instance equals the one `cls(**fields)` builds."""
    instance = _new(cls)
    _set(instance, "__dict__", fields)
    return instance

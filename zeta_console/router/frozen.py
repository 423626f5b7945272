"""Frozen dataclass instances built on the hot path.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`: 3.2 µs for the 27 fields of an
`EndpointState`, built for every endpoint on every decision. `fast_constructor(cls)` returns a builder that makes the
same instance (equal, hashable, immutable) in 1.2 µs by handing it the keyword arguments as its `__dict__`. To mypy
the builder has the constructor's own signature, so each call site's field names and types are checked as a
constructor call's would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__


def fast_constructor(cls: Callable[P, T]) -> Callable[P, T]:
    """A builder for `cls`, a frozen dataclass with no `__post_init__` and no slots, taking its fields as keywords only.
    Give every field: one left out would read the class's default (a `default_factory` field would have none);
    tests/router/test_frozen.py checks that each caller's instance equals the one `cls(**fields)` builds."""
    klass = cast(type, cls)
    params = getattr(klass, "__dataclass_params__", None)  # what @dataclass was given (frozen=...)
    if params is None or not params.frozen or hasattr(klass, "__post_init__") or "__slots__" in vars(klass):
        raise TypeError(f"{klass.__name__} is not a frozen dataclass without __post_init__ and slots")

    def build(**fields: Any) -> Any:
        instance: Any = _new(klass)
        _set(instance, "__dict__", fields)
        return instance

    return cast(Callable[P, T], build)

"""The hot path's frozen dataclasses (router/frozen.py: states, decision inputs, decisions, records) are the instances
their own constructors would make."""

from __future__ import annotations

import time
from dataclasses import FrozenInstanceError, dataclass, fields, replace
from typing import Any

import pytest

from tests.router.routing import answer, ask, routed
from zeta_console.router.affinity import SessionTable
from zeta_console.router.api import Decision, RequestRecord
from zeta_console.router.candidates import DecisionInput, EndpointState, SessionHint
from zeta_console.router.frozen import fast_constructor
from zeta_console.settings import Affinity, Task


def rebuilt(instance: Any) -> Any:
    """The same fields through the dataclass's own `__init__`; every field must have been given."""
    given = vars(instance)
    assert set(given) == {f.name for f in fields(instance)}
    return type(instance)(**given)


async def test_states_decisions_and_records_equal_what_their_constructors_build() -> None:
    async with routed() as run:
        await answer(run.router, ask("write a python function", Task.CODE))
        _, record = await answer(run.router, ask("and another one", Task.CODE))
        now = time.monotonic()
        states = [run.router.view.endpoint_state(endpoint, 0, now, arrivals=True) for endpoint in run.router.endpoints.values()]
        pending = run.router._run(ask("a third one", Task.CODE))
        pending.state.classification = record.decision.classification
        decision_input = pending._decision_input(run.router.slots.queued)

    assert isinstance(decision_input, DecisionInput)
    assert rebuilt(decision_input) == decision_input

    for instance in (*states, record, record.decision):
        assert isinstance(instance, EndpointState | RequestRecord | Decision)
        twin = rebuilt(instance)
        assert instance == twin
        if isinstance(instance, EndpointState):  # the others hold mappings
            assert hash(instance) == hash(twin)
        assert repr(instance) == repr(twin)
        assert replace(instance) == instance
        with pytest.raises(FrozenInstanceError):
            setattr(instance, fields(instance)[0].name, None)
    assert record.decision.reason and record.decision.candidates


def test_session_hints_equal_what_their_constructor_builds() -> None:
    """Each of the hint's three cases: a new session, one held (its holder and cached tokens), one forgotten as idle."""
    table = SessionTable(Affinity(idle_ttl_s=10.0))
    table.remember("held", "coder@a", 300, now=100.0)
    table.remember("stale", "coder@b", 40, now=0.0)
    hints = [table.hint("new", 500, now=100.0), table.hint("held", 500, now=100.0), table.hint("stale", 500, now=100.0)]
    assert [(hint.holder, hint.cached_tokens) for hint in hints] == [(None, 0), ("coder@a", 300), (None, 0)]
    assert hints[2].unheld.startswith("forgotten: idle 100 s")
    for hint in hints:
        assert isinstance(hint, SessionHint)
        twin = rebuilt(hint)
        assert hint == twin and repr(hint) == repr(twin)
        with pytest.raises(FrozenInstanceError):
            hint.holder = None  # type: ignore[misc]  # the point: it is frozen


@dataclass(frozen=True)
class Pair:
    left: int
    right: str = "r"


@dataclass
class Mutable:
    value: int


@dataclass(frozen=True)
class Checked:
    value: int

    def __post_init__(self) -> None:
        assert self.value >= 0


@dataclass(frozen=True, slots=True)
class Slotted:
    value: int


class Plain:
    pass


def test_a_fast_constructor_builds_its_class_from_keywords_only() -> None:
    new_pair = fast_constructor(Pair)
    pair = new_pair(left=1, right="x")
    assert type(pair) is Pair
    assert pair == Pair(1, "x") and hash(pair) == hash(Pair(1, "x")) and repr(pair) == repr(Pair(1, "x"))
    with pytest.raises(FrozenInstanceError):
        pair.left = 2  # type: ignore[misc]  # the point: it is frozen
    with pytest.raises(TypeError):
        new_pair(1, "x")


@pytest.mark.parametrize("cls", [Mutable, Checked, Slotted, Plain])
def test_a_fast_constructor_refuses_a_class_its_builder_would_get_wrong(cls: type) -> None:
    """Not frozen (the builder's instance would be), a `__post_init__` (it would not run), slots (no `__dict__`)."""
    with pytest.raises(TypeError, match="is not a frozen dataclass without __post_init__ and slots"):
        fast_constructor(cls)

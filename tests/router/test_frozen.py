"""The hot path's frozen dataclasses (router/frozen.py: states, decision inputs, decisions, records) are the instances
their own constructors would make."""

from __future__ import annotations

import time
from dataclasses import FrozenInstanceError, fields, replace
from typing import Any

import pytest

from tests.router.routing import answer, ask, routed
from zeta_console.router.api import Decision, RequestRecord
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.settings import Task


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
        states = [run.router.view.endpoint_state(endpoint, 0, now) for endpoint in run.router.endpoints.values()]
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

"""The slot table's late-binding queue, on its own (the router's use of it: test_dispatch.py)."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack

from tests.helpers import wait_until
from zeta_console.router.slots import SlotTable, Waiter


async def test_a_slot_reserved_for_a_woken_waiter_reads_free_to_a_decision_but_is_reserved_for_another() -> None:
    slots = SlotTable({"coder": 1, "reasoner": 1})
    with ExitStack() as busy:
        coder = busy.enter_context(ExitStack())
        coder.enter_context(slots.occupying("coder"))
        reasoner = busy.enter_context(ExitStack())
        reasoner.enter_context(slots.occupying("reasoner"))
        with slots.waiting(Waiter(interactive=False, attributed="coder")) as waiter:
            sleeping = asyncio.create_task(slots.sleep(waiter, ["coder", "reasoner"]))
            await wait_until(lambda: slots.wanted["reasoner"] == 1, message="the waiter sleeps")
            reasoner.close()  # the reasoner frees: reserved for the waiter, which re-decides next
            await sleeping
            assert waiter.reservation == "reasoner"
            # A newcomer deciding now sees no request on the reasoner, yet cannot take it: the router then lets it
            # wait for whichever endpoint frees first instead of that one alone (RequestRun._admit).
            assert slots.in_flight["reasoner"] == 0 and not slots.has_room("reasoner")
            assert slots.reserved_for_another("reasoner")
            assert not slots.reserved_for_another("reasoner", waiter)  # its own reservation
            assert not slots.reserved_for_another("coder")  # busy: a decision saw that too


def test_an_endpoint_frees_when_the_first_of_its_occupants_is_expected_to_end() -> None:
    slots = SlotTable({"coder": 2, "reasoner": 1})
    with ExitStack() as held:
        assert slots.frees_in_s("coder", now=10.0) is None  # nothing in flight
        first = held.enter_context(ExitStack())
        first.enter_context(slots.occupying("coder", ends_at=13.0))
        held.enter_context(slots.occupying("coder", ends_at=11.5))
        held.enter_context(slots.occupying("reasoner"))  # dispatched with no prediction
        assert slots.frees_in_s("coder", now=10.0) == 1.5
        assert slots.frees_in_s("coder", now=11.75) == 0.25  # 0.25 s past its predicted end: as long again
        assert slots.frees_in_s("coder", now=12.5) == 0.5  # the other ends first now: 1 s past against 0.5 s ahead
        assert slots.frees_in_s("reasoner", now=10.0) is None
        first.close()
        assert slots.frees_in_s("coder", now=12.5) == 1.0  # the one that ended is forgotten
    assert slots.frees_in_s("coder", now=10.0) is None

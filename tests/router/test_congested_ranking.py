"""When the endpoint `adaptive` ranks first for a streamed request is busy and another could start it now, the request
is ranked by its first token alone, where its reader starts (the oracle's edge in `overload`); a caller waiting for
the whole answer keeps its ranking and waits for the endpoint it finishes soonest on. Through the real router, over
HTTP to the emulator."""

from __future__ import annotations

import asyncio

from tests.helpers import wait_until
from tests.router.routing import answer, ask, routed
from zeta_console.router.api import Decision, RequestRecord, RouterEvent
from zeta_console.settings import Adaptive, Hedging, Task
from zeta_console.sim import Fault

REASONER_MODEL = "qwen3:14b"


async def ask_while_the_coder_is_held(stream: bool) -> tuple[bool, RequestRecord]:
    """A reasoning question asked while the coder's one slot is held and the reasoner idles: whether it was dispatched
    while the coder was held, and its record (the coder released once it was dispatched or queued)."""
    # hold_weight 0: the reasoner's long answer would hold its one slot from the requests after it, and the one answer it
    # just gave reads as an arrival rate: priced (`hold_s`, tests/router/test_slot_hold.py), the request waits for the coder.
    async with routed(adaptive=Adaptive(explore_rate=0.0, hold_weight=0.0), hedging=Hedging(enabled=False)) as run:
        router = run.router
        # Both measured: the coder on a 100-token answer (its turn, what a request queued for it waits, ~1.5 s),
        # the reasoner decoding at a tenth of its speed (a long answer expected from it, though its first token is quick;
        # slower than reading, so a reader would notice it too).
        await answer(router, ask("warm up", Task.SIMPLE, target="coder", options={"num_predict": 100}, stream=False))
        host = run.fleet.host("local")
        host.set_fault(REASONER_MODEL, Fault(slow_factor=10.0))
        await answer(router, ask("think", Task.COMPLEX_REASONING, target="reasoner", stream=False))
        host.clear_faults(REASONER_MODEL)
        decided = asyncio.Event()

        def on_decision(event: RouterEvent) -> None:
            if isinstance(event, Decision) and event.client == "reasoning":
                decided.set()

        router.subscribe(on_decision)
        # The coder's one slot held open by a stream; a reasoning question whose answer would end sooner on the coder,
        # even after its predicted wait, than on the reasoner.
        async with router.chat(ask("hold the coder", Task.SIMPLE, target="coder", options={"num_predict": 100_000})) as occupier:
            await anext(occupier)
            question = ask("why is the sky blue?", Task.COMPLEX_REASONING, stream=stream, client="reasoning")
            asked = asyncio.create_task(answer(router, question))
            await wait_until(lambda: decided.is_set() or router.slots.total_queued() > 0, message="dispatched or queued")
            dispatched_while_held = decided.is_set()
        _, record = await asked
        coder = next(c for c in record.decision.candidates if c.endpoint == "coder@local")
        reasoner = next(c for c in record.decision.candidates if c.endpoint == "reasoner@local")
        assert reasoner.terms["completion_s"] > 2 * coder.terms["completion_s"]  # the reasoner's answer is much longer
        return dispatched_while_held, record


async def test_a_streamed_request_starts_on_the_idle_reasoner_rather_than_wait_for_the_busy_coder() -> None:
    dispatched_while_held, record = await ask_while_the_coder_is_held(stream=True)
    # Dispatched while the coder was still held (before the congested ranking: it waited in the router's queue for it).
    assert dispatched_while_held, record.decision.reason
    assert record.endpoint == "reasoner@local", record.decision.reason
    reason = record.decision.reason
    assert "by TTFT" in reason and "congested: coder@local, best by TTFT + decode slower than reading, has no free slot" in reason
    reasoner = next(c for c in record.decision.candidates if c.endpoint == "reasoner@local")
    coder = next(c for c in record.decision.candidates if c.endpoint == "coder@local")
    assert reasoner.terms["ttft_s"] < coder.terms["ttft_s"]


async def test_a_whole_answer_caller_waits_for_the_busy_coder_it_finishes_soonest_on() -> None:
    dispatched_while_held, record = await ask_while_the_coder_is_held(stream=False)
    # It sees no first token: ranked by completion + first token x 2, it waited in the queue for the coder.
    assert not dispatched_while_held, record.decision.reason
    assert record.endpoint == "coder@local", record.decision.reason
    assert "by completion + first token x 2" in record.decision.reason and "congested" not in record.decision.reason

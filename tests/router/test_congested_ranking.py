"""When the endpoint a whole-answer caller would finish soonest on is busy and another could start the request now,
`adaptive` ranks by the first token alone (the oracle's edge in `overload`): through the real router, over HTTP to
the emulator."""

from __future__ import annotations

import asyncio

from tests.helpers import wait_until
from tests.router.routing import answer, ask, routed
from zeta_console.router.api import Decision, RouterEvent
from zeta_console.settings import Adaptive, Hedging, Task
from zeta_console.sim import Fault

REASONER_MODEL = "qwen3:14b"


async def test_a_request_starts_on_the_idle_reasoner_rather_than_wait_for_the_busy_coder_it_would_finish_sooner_on() -> None:
    async with routed(adaptive=Adaptive(explore_rate=0.0), hedging=Hedging(enabled=False)) as run:
        router = run.router
        # Both measured: the coder on a 100-token answer (its turn, what a request queued for it waits, ~1.5 s),
        # the reasoner decoding at a tenth of its speed (a long answer expected from it, though its first token is quick).
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
            question = ask("why is the sky blue?", Task.COMPLEX_REASONING, stream=False, client="reasoning")
            asked = asyncio.create_task(answer(router, question))
            # Dispatched while the coder is still held (before: it waited in the router's queue for the coder).
            await wait_until(lambda: decided.is_set() or router.slots.total_queued() > 0, message="dispatched or queued")
            dispatched_while_held = decided.is_set()
        _, record = await asked
        assert dispatched_while_held, record.decision.reason
        assert record.endpoint == "reasoner@local", record.decision.reason
        assert "by TTFT" in record.decision.reason and "congested: coder@local" in record.decision.reason
        coder = next(c for c in record.decision.candidates if c.endpoint == "coder@local")
        reasoner = next(c for c in record.decision.candidates if c.endpoint == "reasoner@local")
        assert coder.terms["completion_s"] < reasoner.terms["completion_s"]  # by completion it would have waited
        assert reasoner.terms["ttft_s"] < coder.terms["ttft_s"]

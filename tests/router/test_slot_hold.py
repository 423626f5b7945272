"""A streamed request's `hold_s`, through the real router over HTTP to the emulator: the endpoints' arrival rates are the
router's own dispatches, so an endpoint that has just taken requests carries the wait a long answer there would impose on
the next ones, one that has taken none carries nothing, and a whole-answer caller's candidates carry none at all."""

from __future__ import annotations

from tests.router.routing import answer, ask, routed
from zeta_console.settings import Hedging, Task


async def test_an_endpoint_s_recent_dispatches_price_a_streamed_answer_s_slot_time_there() -> None:
    async with routed(hedging=Hedging(enabled=False)) as run:
        router = run.router
        for n in range(3):
            await answer(router, ask(f"quick one {n}", Task.SIMPLE, target="coder", options={"num_predict": 5}, stream=False))
        _, streamed = await answer(router, ask("why is the sky blue?", Task.COMPLEX_REASONING, options={"num_predict": 5}))
        holds = {c.endpoint: c.terms["hold_s"] for c in streamed.decision.candidates if c.excluded is None}
        assert holds["coder@local"] > 0.0 and holds["reasoner@local"] == 0.0, holds
        assert "hold_s (the wait its answer's slot time imposes on the arrivals there): " in streamed.decision.reason
        _, whole = await answer(router, ask("why is grass green?", Task.COMPLEX_REASONING, options={"num_predict": 5}, stream=False))
        assert all(c.terms["hold_s"] == 0.0 for c in whole.decision.candidates if c.excluded is None)

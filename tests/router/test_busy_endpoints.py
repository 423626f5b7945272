"""A busy endpoint, through the real router over HTTP to the emulator: the wait `adaptive` predicts for it is the rest of
the answer under way there, as that answer's decision predicted it, not a whole service time; and exploration never
sends a request to wait for it while another endpoint could start the request now."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import wait_until
from tests.router.routing import TWO_CODERS, answer, ask, load_both_coders, routed, two_coder_settings
from zeta_console.router.api import Decision, RouterEvent
from zeta_console.settings import Adaptive, Hedging, Task


async def test_a_busy_endpoint_is_predicted_to_free_when_its_answer_under_way_is_predicted_to_end() -> None:
    # At the models' own speed, so that the long answer is still seconds from its predicted end when the next decision reads it.
    async with routed(TWO_CODERS, time_scale=1.0, hedging=Hedging(enabled=False), **two_coder_settings()) as run:
        router = run.router
        await load_both_coders(run)
        # Both coders measured on 5-token answers: a whole turn of theirs (what a queued request used to be predicted to
        # wait) is a fraction of a second. The second goes to the other coder, never measured until then.
        for question in ("warm up", "warm up again"):
            await answer(router, ask(question, Task.SIMPLE, target="coder", options={"num_predict": 5}, stream=False))
        assert {record.endpoint for record in run.records()} == {"coder@a", "coder@b"}
        # A code answer expected to run 256 tokens (~3.7 s) holds one coder's slot, streamed and not read on.
        async with router.chat(ask("hold a coder", Task.CODE, target="coder", options={"num_predict": 1000}, client="long")) as long:
            await anext(long)
            _, record = await answer(router, ask("a quick one", Task.SIMPLE, target="coder", options={"num_predict": 5}, stream=False))
        held = next(event for event in run.events if isinstance(event, Decision) and event.client == "long")
        assert held.prediction is not None and held.chosen is not None
        assert record.endpoint != held.chosen  # the free coder took it
        busy = next(c for c in record.decision.candidates if c.endpoint == held.chosen)
        rest = held.prediction.completion_s - (record.decision.at - held.at)
        assert rest > 1.0  # still well before its predicted end
        assert busy.terms["wait_s"] == pytest.approx(rest, abs=0.05)


async def test_exploring_never_sends_a_request_to_wait_for_a_busy_endpoint_while_another_could_start_it() -> None:
    # Every decision explores: a random pick among the eligible endpoints. It used to take the busy reasoner half the time,
    # and the router then waited for the reasoner alone (in overload: 5-10 s while the coder freed again and again).
    async with routed(adaptive=Adaptive(explore_rate=1.0), hedging=Hedging(enabled=False)) as run:
        router = run.router
        await answer(router, ask("warm up", Task.SIMPLE, target="coder", options={"num_predict": 5}, stream=False))  # measured
        decided: set[str] = set()

        def on_decision(event: RouterEvent) -> None:
            if isinstance(event, Decision) and event.chosen is not None and event.client.startswith("question"):
                decided.add(event.client)

        router.subscribe(on_decision)
        holding = ask("hold the reasoner", Task.COMPLEX_REASONING, target="reasoner", options={"num_predict": 100_000})
        async with router.chat(holding) as held:
            await anext(held)
            for n in range(8):
                client = f"question {n}"
                question = ask(
                    f"why is the sky blue? ({n})", Task.COMPLEX_REASONING, options={"num_predict": 5}, stream=False, client=client
                )
                asked = asyncio.create_task(answer(router, question))
                await wait_until(lambda: bool(decided) or router.slots.total_queued() > 0, message="dispatched or queued")
                assert decided == {client}, f"{client} waits for the busy reasoner"
                decided.clear()
                _, record = await asked
                assert record.endpoint == "coder@local"

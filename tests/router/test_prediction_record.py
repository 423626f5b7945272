"""Every decision records its prediction; the record and the journal hold the actual times beside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.router.routing import answer, ask, routed
from zeta_console.router.api import Decision, Ranking, RouterEvent
from zeta_console.settings import Task


async def test_a_request_that_waited_for_a_slot_is_predicted_from_its_decision_and_says_how_long_it_waited(tmp_path: Path) -> None:
    async with routed(journal_path=tmp_path / "j.sqlite3") as run:
        router = run.router
        await answer(router, ask("warm up " * 50, Task.CODE, target="coder", stream=False))  # measured once
        dispatched = asyncio.Event()

        def on_event(event: RouterEvent) -> None:
            if isinstance(event, Decision) and event.client == "long":
                dispatched.set()

        router.subscribe(on_event)
        # The coder has one slot: a long answer holds it while the short request waits in the router's queue. Both
        # are pinned to it: the code route has the reasoner too, which may measure them (idle, never measured).
        long_one = ask("a long one " * 50, Task.CODE, target="coder", options={"num_predict": 300}, client="long")
        long = asyncio.create_task(answer(router, long_one))
        await dispatched.wait()
        short = ask("short " * 50, Task.CODE, target="coder", options={"num_predict": 20}, stream=False, client="short")
        _, record = await answer(router, short)
        await long

        prediction = record.decision.prediction
        assert prediction is not None and record.ttft_s is not None and record.actual_ttft_s is not None
        assert prediction.ranked_by is Ranking.COMPLETION and prediction.output_tokens == 20
        # Most of what the caller waited for its first token was the queue, before the decision was made (the
        # demo's "predicted 0.01 s, measured 14 s"): the prediction counts from the decision, and so does the actual.
        assert prediction.waited_s > record.ttft_s / 2
        assert record.actual_ttft_s == pytest.approx(record.ttft_s - prediction.waited_s)
        assert record.actual_ttft_s < record.ttft_s / 2
        assert run.journal is not None and run.journal.flush(timeout=10)
        (stored,) = [request for request in run.journal.recent_requests(10) if request.client == "short"]
        assert (stored.predicted_ttft_s, stored.predicted_completion_s, stored.waited_s) == (
            prediction.ttft_s, prediction.completion_s, prediction.waited_s
        )
        assert (stored.actual_ttft_s, stored.actual_completion_s) == (record.actual_ttft_s, record.actual_completion_s)

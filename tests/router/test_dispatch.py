"""Dispatch under load: slots, the late-binding queue, cancellation, and the books balancing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.router.routing import answer, ask, counters_are_zero, routed
from zeta_console.backends.types import BackendError
from zeta_console.demo import zero_latency_fleet_spec
from zeta_console.router.api import Decision, ErrorKind, Outcome
from zeta_console.router.errors import RejectedError
from zeta_console.router.requests import EmbedRequest, GenerateRequest
from zeta_console.settings import Admission, Task

SHORT = {"num_predict": 8}  # a few chunks per answer: the test is about bookkeeping, not throughput


async def test_a_queued_request_takes_whichever_endpoint_frees_first() -> None:
    async with routed() as run:
        router = run.router
        on_coder = router.chat(ask("hold the coder", Task.SIMPLE, target="coder"))
        on_reasoner = router.chat(ask("hold the reasoner", Task.SIMPLE, target="reasoner", think=False))
        await on_coder.__anext__()
        await on_reasoner.__anext__()
        background = asyncio.create_task(answer(router, ask("queued first, background", Task.SIMPLE)))
        await wait_until(lambda: router.slots.total_queued() == 1, message="background request queued")
        interactive = asyncio.create_task(answer(router, ask("queued second, interactive", Task.SIMPLE, interactive=True)))
        await wait_until(lambda: router.slots.total_queued() == 2, message="interactive request queued")
        queued = {endpoint.id: endpoint.queued for endpoint in router.snapshot().endpoints}
        assert queued["coder@local"] + queued["reasoner@local"] == 2

        await on_reasoner.aclose()  # the reasoner frees first: the interactive request takes it
        _, first = await interactive
        assert first.endpoint == "reasoner@local"
        _, second = await background
        assert second.decision.at > first.decision.at
        await on_coder.aclose()
        assert on_reasoner.record is not None and on_reasoner.record.outcome is Outcome.CANCELLED
        assert counters_are_zero(router)


async def test_a_thousand_mixed_requests_balance_the_books(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    async with routed(zero_latency_fleet_spec(), time_scale=1.0, journal_path=journal_path) as run:
        router = run.router
        rng = random.Random(7)
        outcomes: list[str] = []

        async def one(index: int) -> None:
            kind = rng.random()
            try:
                if kind < 0.1:
                    await router.embed(EmbedRequest(input=f"text {index}"))
                elif kind < 0.2:
                    async with router.generate(GenerateRequest(prompt=f"say {index}", task=Task.SIMPLE, options=SHORT)) as stream:
                        async for _ in stream:
                            pass
                else:
                    cancel_after = rng.choice([None, None, None, 0, 1, 2])
                    task = rng.choice([Task.SIMPLE, Task.CODE, Task.COMPLEX_REASONING, None])
                    async with router.chat(
                        ask(f"question {index} about python code", task, think=False, options=SHORT, interactive=index % 7 == 0)
                    ) as stream:
                        received = 0
                        async for _ in stream:
                            if received == cancel_after:
                                break  # leaving the block closes (cancels) the stream
                            received += 1
                outcomes.append("done")
            except BackendError:
                outcomes.append("error")

        tasks = [asyncio.create_task(one(index)) for index in range(1000)]
        await asyncio.sleep(0)
        for task in rng.sample(tasks, 50):  # some are cancelled from outside, wherever they are
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

        assert counters_are_zero(router)
        records = run.records()
        assert len(records) == len({record.request_id for record in records}) == 1000
        assert {record.outcome for record in records} >= {Outcome.OK, Outcome.CANCELLED}
        assert run.journal is not None and run.journal.flush(10.0)
        assert run.journal.count_requests() == len(records)
        assert all(endpoint.in_flight == 0 and endpoint.queued == 0 for endpoint in router.snapshot().endpoints)


async def test_past_the_queue_limit_background_requests_are_shed_and_the_operators_are_not() -> None:
    async with routed(admission=Admission(max_queued=2)) as run:
        router = run.router
        held = router.chat(ask("hold the coder", Task.SIMPLE, target="coder"))
        await held.__anext__()
        waiting = [asyncio.create_task(answer(router, ask(f"wait {n}", Task.SIMPLE, target="coder"))) for n in range(2)]
        await wait_until(lambda: router.slots.total_queued() == 2, message="two requests queued")

        _, shed = await answer(router, ask("one too many", Task.SIMPLE, target="coder"))
        assert shed.outcome is Outcome.REJECTED and shed.error_kind is ErrorKind.BUSY
        assert shed.endpoint is None and "admission.max_queued" in shed.decision.reason
        operators = asyncio.create_task(answer(router, ask("the operator's prompt", Task.SIMPLE, target="coder", interactive=True)))
        await wait_until(lambda: router.slots.total_queued() == 3, message="the operator's prompt queued past the limit")

        await held.aclose()
        _, first = await operators
        assert first.outcome is Outcome.OK
        assert all(record.outcome is Outcome.OK for _, record in await asyncio.gather(*waiting))
        assert counters_are_zero(router)


async def test_a_shed_request_counts_in_the_fleets_shed_rate_and_a_refusal_that_is_not_load_as_an_error() -> None:
    """A shed is the router declining work, not the fleet failing: counted as an error, the demo's sheds while its
    models loaded read as a fleet failing 3-6 % of its requests, every card saying 0 % failed."""
    async with routed(admission=Admission(max_queued=1)) as run:
        router = run.router
        held = router.chat(ask("hold the coder", Task.SIMPLE, target="coder"))
        await held.__anext__()
        waiting = asyncio.create_task(answer(router, ask("wait", Task.SIMPLE, target="coder")))
        await wait_until(lambda: router.slots.total_queued() == 1, message="one request queued")
        _, shed = await answer(router, ask("one too many", Task.SIMPLE, target="coder"))
        assert shed.outcome is Outcome.REJECTED and shed.error_kind is ErrorKind.BUSY
        snapshot = router.snapshot()
        assert snapshot.shed_rate > 0.0 and snapshot.error_rate == 0.0

        _, refused = await answer(router, ask("hello", Task.SIMPLE, target="no-such-tier"))
        assert refused.outcome is Outcome.REJECTED and refused.error_kind is not ErrorKind.BUSY
        assert router.snapshot().error_rate > 0.0
        await held.aclose()
        assert (await waiting)[1].outcome is Outcome.OK


async def test_a_background_request_that_would_wait_past_its_patience_is_shed_at_once_and_the_operators_waits() -> None:
    async with routed(admission=Admission(patience_s=1.0)) as run:
        router = run.router
        await answer(router, ask("measure the coder", Task.SIMPLE, target="coder"))  # a cold start: seconds of service time
        held = router.chat(ask("hold the coder", Task.SIMPLE, target="coder"))
        await held.__anext__()  # its one slot taken: a newcomer would wait a whole answer

        shed = router.chat(ask("background work", Task.SIMPLE, target="coder"))
        async with asyncio.timeout(5.0):  # on failure it would wait for the held slot: fail, not hang
            with pytest.raises(RejectedError) as rejected:
                await shed.__anext__()
        assert rejected.value.kind is ErrorKind.BUSY and rejected.value.retry_after_s is not None and rejected.value.retry_after_s > 0
        record = shed.record
        assert record is not None and record.outcome is Outcome.REJECTED and record.error_kind is ErrorKind.BUSY
        assert record.endpoint is None and record.decision.chosen is None
        patience_s = run.settings.admission.patience_s
        assert record.decision.reason.startswith("shed: predicted wait ")
        assert record.decision.reason.endswith(f" s > patience {patience_s:g} s (admission.patience_s)")
        decisions = [e for e in run.events if isinstance(e, Decision) and e.request_id == record.request_id]
        assert decisions == [record.decision]  # decided once, shed there: it never stood in the queue
        assert router.slots.total_queued() == 0

        operators = asyncio.create_task(answer(router, ask("the operator's prompt", Task.SIMPLE, target="coder", interactive=True)))
        await wait_until(lambda: router.slots.total_queued() == 1, message="the operator's prompt queued")
        await held.aclose()
        _, served = await operators
        assert served.outcome is Outcome.OK and served.endpoint == "coder@local"
        assert counters_are_zero(router)

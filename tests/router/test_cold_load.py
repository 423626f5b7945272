"""A model's cold load is not its endpoint's serving time: the TTFT and latency figures the health check compares
with the thresholds leave out the load Ollama reports (`load_duration`), so a fleet's first requests do not make it
read DEGRADED; the caller's own TTFT keeps the wait, and an endpoint that is slow to serve still degrades."""

from __future__ import annotations

import time

from tests.router.routing import answer, ask, routed
from zeta_console.router.api import EndpointSnapshot, EndpointStatus, Outcome
from zeta_console.router.requests import EmbedRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Task, Thresholds
from zeta_console.sim import Fault
from zeta_console.sim.profiles import CODER

# At 2x the coder loads in 1.5 s and the embedder in 1 s, both well over the TTFT threshold of 0.5 s (1 s before
# scaling), while a warm answer to "hello" takes milliseconds: a loaded machine's noise stays far under the threshold.
SCALE = 2.0
THRESHOLDS = Thresholds(ttft_s=1.0)


def endpoint_snapshot(router: ZetaDynamicRouter, endpoint_id: str) -> EndpointSnapshot:
    return next(endpoint for endpoint in router.snapshot().endpoints if endpoint.id == endpoint_id)


async def test_a_cold_first_chat_leaves_its_endpoint_up_and_the_card_names_the_load() -> None:
    async with routed(time_scale=SCALE, thresholds=THRESHOLDS) as run:
        router = run.router
        threshold_s = run.settings.thresholds.ttft_s
        _, record = await answer(router, ask("hello", Task.CODE, target="coder"))
        assert record.outcome is Outcome.OK
        assert record.ttft_s is not None and record.ttft_s > 2 * threshold_s  # the caller did wait for the load

        status, reason = router.view.status(router.endpoints["coder@local"], time.monotonic())
        assert status is EndpointStatus.UP, reason
        coder = endpoint_snapshot(router, "coder@local")
        assert coder.ttft_p95_s is not None and coder.ttft_p95_s < threshold_s
        assert coder.last_cold_load_s is not None and coder.last_cold_load_s > 2 * threshold_s

        # Now loaded, it is neither predicted slow nor given a load allowance for its next request.
        _, warm = await answer(router, ask("hello again", Task.CODE, target="coder"))
        assert warm.decision.prediction is not None and warm.decision.prediction.ttft_s < threshold_s
        assert warm.ttft_s is not None and warm.ttft_s < threshold_s


async def test_a_cold_first_embedding_leaves_the_embedder_up() -> None:
    async with routed(time_scale=SCALE, thresholds=THRESHOLDS) as run:
        router = run.router
        threshold_s = run.settings.thresholds.ttft_s
        await router.embed(EmbedRequest(input="hello"))
        (record,) = run.records()
        assert record.ttft_s is not None and record.ttft_s > threshold_s  # an embedding's TTFT is its whole time
        status, reason = router.view.status(router.endpoints["embedder@local"], time.monotonic())
        assert status is EndpointStatus.UP, reason
        assert endpoint_snapshot(router, "embedder@local").last_cold_load_s is not None


async def test_an_endpoint_slow_to_serve_still_reads_degraded() -> None:
    async with routed(time_scale=SCALE, thresholds=THRESHOLDS) as run:
        router, host = run.router, run.fleet.host("local")
        coder = router.endpoints["coder@local"]
        await answer(router, ask("hello", Task.CODE, target="coder"))  # loaded
        assert router.view.status(coder, time.monotonic())[0] is EndpointStatus.UP
        host.set_fault(CODER.name, Fault(stall_s=2.0))  # 1 s of silence before the first token: twice the threshold
        _, slow = await answer(router, ask("hello", Task.CODE, target="coder"))
        assert slow.outcome is Outcome.OK
        status, reason = router.view.status(coder, time.monotonic())
        assert status is EndpointStatus.DEGRADED and reason.startswith("TTFT p95"), reason


async def test_a_cold_endpoint_slow_to_serve_past_its_load_still_reads_degraded() -> None:
    async with routed(time_scale=SCALE, thresholds=THRESHOLDS) as run:
        router, host = run.router, run.fleet.host("local")
        host.set_fault(CODER.name, Fault(stall_s=2.0))  # the silence comes after the load: only the load is left out
        _, record = await answer(router, ask("hello", Task.CODE, target="coder"))
        assert record.outcome is Outcome.OK
        status, reason = router.view.status(router.endpoints["coder@local"], time.monotonic())
        assert status is EndpointStatus.DEGRADED and reason.startswith("TTFT p95"), reason


# At 30x (the benchmark's --quick), the coder loads in 0.1 s and the embedder in 0.07 s: under the 0.25 s that tells a
# load from a warm model's few milliseconds at 1x, so the loads were read as serving time, and never as loads.
QUICK = 30.0


async def test_a_cold_load_is_told_apart_at_the_time_scale_of_the_emulator() -> None:
    async with routed(time_scale=QUICK) as run:
        router = run.router
        _, record = await answer(router, ask("hello", Task.CODE, target="coder"))
        await router.embed(EmbedRequest(input="hello"))
        coder, embedder = endpoint_snapshot(router, "coder@local"), endpoint_snapshot(router, "embedder@local")
        assert coder.last_cold_load_s is not None and coder.load_s == coder.last_cold_load_s
        assert embedder.last_cold_load_s is not None and embedder.load_s == embedder.last_cold_load_s
        assert record.ttft_s is not None and coder.ttft_p95_s is not None
        assert coder.ttft_p95_s <= record.ttft_s - coder.last_cold_load_s  # its one first token, less the load

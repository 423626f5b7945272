"""The predictor's seeds against the fleet they predict for."""

from __future__ import annotations

import pytest

from tests.helpers import wait_until
from tests.policy_fixtures import decision_input, endpoint
from tests.router.routing import Routed, answer, ask, routed
from zeta_console.router.policies.prediction import prediction_for
from zeta_console.settings import Task, Thresholds


def test_a_never_measured_embedder_is_seeded_from_its_ttft_threshold_like_any_endpoint() -> None:
    # At 10x the thresholds are scaled (2 s -> 0.2 s); the 10 s service seed was not, so a fleet's first
    # embedding (~10 ms) was predicted at 10 s.
    embedder = endpoint("embedder", ttft_ewma_s=None, latency_ewma_s=None, thresholds=Thresholds(ttft_s=0.2))
    prediction = prediction_for(decision_input((embedder,), Task.EMBEDDING, prompt_tokens=80), embedder.id, 0.0, waited_s=0.0)
    assert prediction is not None
    assert prediction.ttft_s == pytest.approx(0.2)


async def test_a_fresh_demo_routers_first_decision_predicts_a_cold_start_of_the_right_order() -> None:
    # The demo fleet at 10x, nothing loaded yet: the coder's first answer waits for its cold start (3 s / 10).
    # The 10 s load seed was not scaled with the thresholds, so this first TTFT was predicted at ~10.2 s.
    async with routed(time_scale=10.0) as run:
        coder = "coder@local"
        await wait_until(lambda: _resident(run, coder) is False, message="the health poll to see the coder not loaded")
        _, record = await answer(run.router, ask("def add(a, b):", Task.CODE, target="coder"))
    prediction = record.decision.prediction
    assert record.endpoint == coder and prediction is not None and record.actual_ttft_s is not None
    assert record.actual_ttft_s / 3 < prediction.ttft_s < record.actual_ttft_s * 3


def _resident(run: Routed, endpoint: str) -> bool | None:
    return next(point.resident for point in run.router.snapshot().endpoints if point.id == endpoint)

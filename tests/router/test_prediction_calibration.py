"""The predictor's seeds against the fleet they predict for."""

from __future__ import annotations

import pytest

from tests.policy_fixtures import decision_input, endpoint
from zeta_console.router.policies.prediction import prediction_for
from zeta_console.settings import Task, Thresholds


def test_a_never_measured_embedder_is_seeded_from_its_ttft_threshold_like_any_endpoint() -> None:
    # At 10x the thresholds are scaled (2 s -> 0.2 s); the 10 s service seed was not, so a fleet's first
    # embedding (~10 ms) was predicted at 10 s.
    embedder = endpoint("embedder", ttft_ewma_s=None, latency_ewma_s=None, thresholds=Thresholds(ttft_s=0.2))
    prediction = prediction_for(decision_input((embedder,), Task.EMBEDDING, prompt_tokens=80), embedder.id, 0.0, waited_s=0.0)
    assert prediction is not None
    assert prediction.ttft_s == pytest.approx(0.2)

"""The feedback loop: decayed per (task x tier) history turned into bounded weights."""

from __future__ import annotations

import pytest

from zeta_console.router.feedback import UPDATE_EVERY_S, FeedbackLoop
from zeta_console.settings import Adaptive, Settings, Task

HALF_LIFE = 100.0
SETTINGS = Settings(adaptive=Adaptive(half_life_s=HALF_LIFE, min_weight=0.5, max_weight=2.0))
TASK = Task.COMPLEX_REASONING


def traffic(
    loop: FeedbackLoop, tier: str, *, start: float, count: int, ok: bool = True, ttft_s: float = 1.0, every_s: float = 1.0
) -> float:
    """`count` requests on `tier`, one every `every_s`; returns the time after the last."""
    at = start
    for _ in range(count):
        loop.observe(TASK, tier, ok=ok, ttft_s=ttft_s if ok else None, at=at)
        at += every_s
    return at


def test_no_history_means_no_weights() -> None:
    assert dict(FeedbackLoop(SETTINGS).update(0.0)) == {}


def test_little_data_stays_near_neutral() -> None:
    loop = FeedbackLoop(SETTINGS)
    loop.observe(TASK, "coder", ok=False, ttft_s=None, at=0.0)
    loop.observe(TASK, "reasoner", ok=True, ttft_s=1.0, at=0.0)
    weights = loop.update(0.0)
    assert weights[(TASK, "coder")] == pytest.approx(1.0, abs=0.35)
    assert weights[(TASK, "coder")] > 1.0 > weights[(TASK, "reasoner")]


def test_a_single_tier_for_a_task_is_neutral() -> None:
    loop = FeedbackLoop(SETTINGS)
    traffic(loop, "embedder", start=0.0, count=50, ok=False)
    assert loop.update(50.0)[(TASK, "embedder")] == 1.0


def test_slower_tier_weighs_more_than_its_faster_peer() -> None:
    loop = FeedbackLoop(SETTINGS)
    traffic(loop, "coder", start=0.0, count=30, ttft_s=0.5)
    traffic(loop, "reasoner", start=0.0, count=30, ttft_s=2.0)
    weights = loop.update(30.0)
    assert weights[(TASK, "reasoner")] > 1.2
    assert weights[(TASK, "coder")] < 0.85


def test_statistics_decay_with_the_half_life() -> None:
    loop = FeedbackLoop(SETTINGS)
    traffic(loop, "coder", start=0.0, count=1)
    assert loop.stats(TASK, "coder", now=HALF_LIFE).samples == pytest.approx(0.5)  # type: ignore[union-attr]
    traffic(loop, "coder", start=HALF_LIFE, count=1, ok=False)
    stats = loop.stats(TASK, "coder", now=HALF_LIFE)
    assert stats is not None
    assert stats.samples == pytest.approx(1.5)
    assert stats.success_rate == pytest.approx(0.5 / 1.5)
    assert loop.stats(TASK, "reasoner", now=0.0) is None


def test_a_late_report_counts_less_and_does_not_rewind_time() -> None:
    loop = FeedbackLoop(SETTINGS)
    loop.observe(TASK, "coder", ok=True, ttft_s=1.0, at=HALF_LIFE)
    loop.observe(TASK, "coder", ok=False, ttft_s=None, at=0.0)
    stats = loop.stats(TASK, "coder", now=HALF_LIFE)
    assert stats is not None
    assert stats.samples == pytest.approx(1.5)
    assert stats.success_rate == pytest.approx(1 / 1.5)


def test_weights_are_clamped_to_the_operator_bounds() -> None:
    loop = FeedbackLoop(Settings(adaptive=Adaptive(half_life_s=HALF_LIFE, min_weight=0.8, max_weight=1.25)))
    traffic(loop, "coder", start=0.0, count=100, ok=False)
    traffic(loop, "reasoner", start=0.0, count=100)
    weights = loop.update(100.0)
    assert (weights[(TASK, "coder")], weights[(TASK, "reasoner")]) == (1.25, 0.8)


def test_a_failing_tier_rises_then_recovers_after_it_heals() -> None:
    loop = FeedbackLoop(SETTINGS)
    now = traffic(loop, "reasoner", start=0.0, count=60, ttft_s=1.0)
    now = traffic(loop, "coder", start=0.0, count=60, ok=False)
    failing = loop.update(now)[(TASK, "coder")]
    assert failing > 1.8

    healed_at = now
    now = traffic(loop, "coder", start=healed_at, count=60, ttft_s=1.0, every_s=10.0)
    traffic(loop, "reasoner", start=healed_at, count=60, ttft_s=1.0, every_s=10.0)
    recovered = loop.update(now)[(TASK, "coder")]
    assert recovered < 1.1
    assert recovered < failing


def test_old_history_fades_back_to_neutral_without_new_samples() -> None:
    loop = FeedbackLoop(SETTINGS)
    traffic(loop, "reasoner", start=0.0, count=60)
    now = traffic(loop, "coder", start=0.0, count=60, ok=False)
    assert loop.update(now)[(TASK, "coder")] > 1.8
    assert loop.update(now + 12 * HALF_LIFE)[(TASK, "coder")] == pytest.approx(1.0, abs=0.01)


def test_weights_are_recomputed_periodically_not_on_every_call() -> None:
    loop = FeedbackLoop(SETTINGS)
    traffic(loop, "reasoner", start=0.0, count=20)
    first = loop.weights(20.0)
    traffic(loop, "coder", start=20.0, count=20, ok=False)
    assert loop.weights(20.0 + UPDATE_EVERY_S / 2) is first
    assert (TASK, "coder") in loop.weights(20.0 + UPDATE_EVERY_S)


def test_a_success_without_a_ttft_counts_for_the_success_rate_only() -> None:
    """An answer relayed whole (an unstreamed /v1 chat) has no TTFT: its total time must not pass for one."""
    loop = FeedbackLoop(SETTINGS)
    loop.observe(TASK, "coder", ok=True, ttft_s=0.5, at=0.0)
    loop.observe(TASK, "coder", ok=True, ttft_s=None, at=0.0)
    loop.observe(TASK, "coder", ok=False, ttft_s=None, at=0.0)
    stats = loop.stats(TASK, "coder", 0.0)
    assert stats is not None and stats.samples == 3
    assert stats.mean_latency_s == 0.5 and stats.success_rate == pytest.approx(2 / 3)

"""Run aggregates: outcome counts, preferred-tier share, and the slowdown shift measure."""

from __future__ import annotations

from zeta_console.benchmark.results import Fate, RequestResult
from zeta_console.benchmark.summary import summarize, traffic_shift
from zeta_console.settings import Task


def result(index: int, at_s: float, endpoint: str | None, fate: Fate = Fate.OK, **extra: object) -> RequestResult:
    return RequestResult(index, Task.COMPLEX_REASONING, at_s, fate, "reasoner", endpoint, ttft_s=1.0, total_s=2.0, **extra)  # type: ignore[arg-type]


def test_summary_counts_fates_failovers_and_preferred_share() -> None:
    results = [
        result(0, 0, "reasoner@a"),
        result(1, 1, "coder@a", fallbacks=1),
        result(2, 2, "reasoner@a", Fate.FAILED),
        result(3, 3, "reasoner@a", Fate.FAILED, failed_after_first_token=True),
        result(4, 4, None, Fate.LOST),
    ]
    summary = summarize(results, makespan_s=60)
    assert (summary.ok, summary.failed, summary.lost) == (2, 2, 1)
    assert summary.preferred_share == 0.5
    assert (summary.fallbacks, summary.recovered, summary.unrecovered_pre_token) == (1, 1, 1)
    assert summary.throughput_per_min == 2.0


def test_traffic_shift_counts_requests_until_moving_off_and_back() -> None:
    tiers = ["reasoner"] * 3 + ["reasoner", "reasoner", "coder", "coder", "reasoner"] + ["coder", "coder", "reasoner"]
    results = [result(index, float(index * 10), f"{tier}@a") for index, tier in enumerate(tiers)]
    shift = traffic_shift(results, "reasoner", onset_s=30, recovery_s=80)
    assert shift.sent_before_moving_off == 2  # arrivals at 30 and 40 still went to the reasoner
    assert shift.share_during == 3 / 5
    assert shift.sent_elsewhere_before_return == 2
    assert shift.share_after == 1 / 3

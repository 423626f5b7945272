"""Run aggregates: outcome counts, preferred-tier share, the slowdown shift measure, and calibration."""

from __future__ import annotations

import dataclasses

import pytest

from zeta_console.benchmark.goals import calibration_verdicts, straggler_verdicts
from zeta_console.benchmark.report import calibration_table, hedging_table
from zeta_console.benchmark.results import Calibration, ContenderRun, Fate, RequestResult
from zeta_console.benchmark.summary import calibration, summarize, traffic_shift
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


def predicted(index: int, predicted_ttft_s: float, actual_ttft_s: float, fate: Fate = Fate.OK) -> RequestResult:
    return result(index, index, "coder@a", fate, calibration=Calibration(predicted_ttft_s, 2.0, actual_ttft_s, 2.5))


def test_calibration_is_the_relative_error_of_the_answered_requests_predictions() -> None:
    # TTFT errors 0 %, 10 %, 20 %, ..., 90 %: median 40 %, p90 80 % (nearest rank); completion 2.0 vs 2.5 is 20 %.
    results = [predicted(i, 1.0 + i / 10, 1.0) for i in range(10)]
    results.append(predicted(10, 9.0, 1.0, Fate.FAILED))  # a failed request's prediction is not judged
    results.append(result(11, 11, "coder@a"))  # nor a request that carried none (LiteLLM's)
    c = calibration(results)
    assert c.requests == 10
    assert (c.ttft_median, c.ttft_p90) == pytest.approx((0.4, 0.8))
    assert (c.completion_median, c.completion_p90) == pytest.approx((0.2, 0.2))


def run_of(contender: str, results: list[RequestResult]) -> ContenderRun:
    return ContenderRun(contender, "steady", 30.0, 600.0, 20.0, 1.0, tuple(results))


def test_bench_reports_calibration_per_contender_and_judges_adaptives() -> None:
    good = run_of("adaptive", [predicted(i, 1.0 + (i % 3) / 10, 1.0) for i in range(10)])  # errors 0-20 %
    litellm = run_of("litellm:latency", [result(i, i, "coder@a") for i in range(10)])
    table = calibration_table([good, litellm])
    assert table is not None
    (row,) = [line for line in table.splitlines() if "adaptive" in line]
    assert [cell.strip() for cell in row.strip("|").split("|")] == ["adaptive", "10", "10%", "20%", "20%", "20%"]
    assert "litellm" not in table  # it predicts nothing
    verdicts = calibration_verdicts([good, litellm])
    assert [v.met for v in verdicts] == [True, True]
    bad = run_of("adaptive", [predicted(i, 3.0, 1.0) for i in range(10)])  # 200 % off
    assert [v.met for v in calibration_verdicts([bad])] == [False, False]


def test_straggler_goals_compare_hedging_on_and_off_and_count_broken_answers() -> None:
    def run(name: str, ttfts: list[float], intact: list[bool], hedges: int | None) -> ContenderRun:
        results = tuple(
            dataclasses.replace(result(index, float(index), "coder@a"), ttft_s=ttft, answer_intact=ok)
            for index, (ttft, ok) in enumerate(zip(ttfts, intact, strict=True))
        )
        return ContenderRun(name, "straggler", 10, 100, 10, None, results, hedges_sent=hedges, hedges_won=hedges and 1)

    hedged = run("adaptive", [1.0] * 98 + [2.0] * 2, [True] * 100, 4)
    plain = run("adaptive:no_hedge", [1.0] * 98 + [10.0] * 2, [True] * 99 + [False], None)
    verdicts = {verdict.goal: verdict for verdict in straggler_verdicts([hedged, plain])}
    assert verdicts["p99 TTFT >= 40% lower with hedging"].met  # 2.0 s against 10.0 s: 80 % lower
    assert verdicts["extra requests <= 5%"].met and "4.0%" in verdicts["extra requests <= 5%"].measured
    assert verdicts["adaptive: no duplicated or spliced answer"].met
    assert not verdicts["adaptive:no_hedge: no duplicated or spliced answer"].met
    assert summarize(plain.results, 100).broken_answers == 1
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in hedging_table([hedged, plain]).splitlines()[2:]]
    assert rows == [["adaptive", "4", "1", "4.0%", "100", "0"], ["adaptive:no_hedge", "-", "-", "-", "100", "1"]]

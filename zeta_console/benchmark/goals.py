"""Issue 6's, 13's (real fleet) and 15's goals, checked against a scenario's runs and printed as plain verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.scenarios import Scenario
from zeta_console.benchmark.summary import ALL_TASKS, calibration, conversation_summary, summaries_by_task, traffic_shift
from zeta_console.settings import Task
from zeta_console.wording import counted

ADAPTIVE = "adaptive"
MAX_REQUESTS_TO_MOVE_OFF = 5
MIN_ON_CACHE_HOST = 0.9  # conversations: share of later turns served by the host caching them
MAX_BUSIEST_OVER_MEAN = 1.25
TTFT_P90_GAIN = 3.0  # conversations: adaptive's p90 TTFT at least this many times better than the load balancers'
HEDGE_P99_CUT = 0.40  # straggler: p99 TTFT at least this much lower with hedging than without
MAX_HEDGE_SHARE = 0.05  # ... for at most this share of extra requests


@dataclass(frozen=True)
class Verdict:
    goal: str
    met: bool | None  # None: a contender the goal compares with did not run
    measured: str


def _ttft_p95(run: ContenderRun, task: str) -> float | None:
    return summaries_by_task(run).get(task, summaries_by_task(run)[ALL_TASKS]).ttft_p95_s


def _ratio_verdict(goal: str, ours: float | None, theirs: float | None, limit: float, versus: str) -> Verdict:
    if ours is None or theirs is None or theirs <= 0:
        return Verdict(goal, None, f"needs adaptive and {versus}")
    ratio = ours / theirs
    return Verdict(goal, ratio <= limit, f"adaptive {ours:.2f} s vs {versus} {theirs:.2f} s = {ratio:.2f}x (limit {limit:.2f}x)")


def _reasoning_p95s(runs: Sequence[ContenderRun]) -> tuple[float | None, dict[str, float | None], float | None]:
    """(adaptive's, every contender's, LiteLLM's best) complex-reasoning p95 TTFT."""
    by_name = {run.contender: _ttft_p95(run, Task.COMPLEX_REASONING.value) for run in runs}
    litellm = [p95 for name, p95 in by_name.items() if name.startswith("litellm") and p95 is not None]
    return by_name.get(ADAPTIVE), by_name, min(litellm) if litellm else None


def overload_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    ours, by_name, litellm = _reasoning_p95s(runs)
    return [
        _ratio_verdict("p95 TTFT <= 1/3 of static", ours, by_name.get("static"), 1 / 3, "static"),
        _ratio_verdict("p95 TTFT <= 1.25x oracle", ours, by_name.get("oracle"), 1.25, "oracle"),
        _ratio_verdict("p95 TTFT <= 0.8x LiteLLM's best", ours, litellm, 0.8, "best LiteLLM"),
    ]


def real_overload_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    """Issue 13's goals on real llama.cpp servers."""
    ours, by_name, litellm = _reasoning_p95s(runs)
    lost = [summaries_by_task(run)[ALL_TASKS].lost for run in runs if run.contender == ADAPTIVE]
    return [
        _ratio_verdict("p95 TTFT <= 0.5x LiteLLM's best", ours, litellm, 0.5, "best LiteLLM"),
        _ratio_verdict("p95 TTFT <= 1.3x oracle", ours, by_name.get("oracle"), 1.3, "oracle"),
        Verdict("adaptive: zero lost requests", lost == [0] if lost else None, f"{lost[0]} lost" if lost else "needs adaptive"),
    ]


def completion_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    """Issue 15: over every task, adaptive's total and TTFT p95 near the oracle's and no worse than least_load's."""
    summaries = {run.contender: summaries_by_task(run)[ALL_TASKS] for run in runs}

    def p95(contender: str, field: str) -> float | None:
        summary = summaries.get(contender)
        return None if summary is None else getattr(summary, field)

    ours_total, ours_ttft = p95(ADAPTIVE, "total_p95_s"), p95(ADAPTIVE, "ttft_p95_s")
    return [
        _ratio_verdict("total p95 <= 1.3x oracle", ours_total, p95("oracle", "total_p95_s"), 1.3, "oracle"),
        _ratio_verdict("TTFT p95 <= 1.25x oracle", ours_ttft, p95("oracle", "ttft_p95_s"), 1.25, "oracle"),
        _ratio_verdict("total p95 <= least_load", ours_total, p95("least_load", "total_p95_s"), 1.0, "least_load"),
        _ratio_verdict("TTFT p95 <= least_load", ours_ttft, p95("least_load", "ttft_p95_s"), 1.0, "least_load"),
    ]


MAX_MEDIAN_ERROR = 0.25
MAX_P90_ERROR = 1.0


def calibration_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    """Issue 15: adaptive's TTFT predictions, median and p90 of |predicted - actual| / actual."""
    run = next((run for run in runs if run.contender == ADAPTIVE), None)
    c = calibration(run.results) if run is not None else None
    if c is None or c.ttft_median is None or c.ttft_p90 is None:
        return [Verdict("adaptive: TTFT predictions calibrated", None, "needs adaptive")]
    measured = f"median {c.ttft_median:.0%}, p90 {c.ttft_p90:.0%} over {counted(c.requests, 'request')}"
    return [
        Verdict(f"adaptive: median TTFT error <= {MAX_MEDIAN_ERROR:.0%}", c.ttft_median <= MAX_MEDIAN_ERROR, measured),
        Verdict(f"adaptive: p90 TTFT error <= {MAX_P90_ERROR:.0%}", c.ttft_p90 <= MAX_P90_ERROR, measured),
    ]


def failure_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    verdicts = []
    for run in runs:
        summary = summaries_by_task(run)[ALL_TASKS]
        verdicts.append(Verdict(f"{run.contender}: zero lost requests", summary.lost == 0, f"{summary.lost} lost, {summary.failed} failed"))
        verdicts.append(
            Verdict(
                f"{run.contender}: every pre-first-token failure recovered",
                summary.unrecovered_pre_token == 0,
                f"{counted(summary.fallbacks, 'failover')}, {counted(summary.recovered, 'request')} recovered, "
                f"{summary.unrecovered_pre_token} failed before a token",
            )
        )
    return verdicts


def slowdown_verdicts(runs: Sequence[ContenderRun], scenario: Scenario) -> list[Verdict]:
    faults = [event for event in scenario.events if event.action == "fault" and event.tier == scenario.watch_tier]
    clears = [event for event in scenario.events if event.action == "clear_faults"]
    if not faults or not clears or scenario.watch_tier is None:
        return []
    onset, recovery = faults[0].at_s, clears[0].at_s
    verdicts = []
    for run in runs:
        shift = traffic_shift(run.results, scenario.watch_tier, onset, recovery)
        moved = shift.sent_before_moving_off
        returned = shift.sent_elsewhere_before_return
        verdicts.append(
            Verdict(
                f"{run.contender}: moves off within {MAX_REQUESTS_TO_MOVE_OFF} requests and returns",
                moved is not None and moved <= MAX_REQUESTS_TO_MOVE_OFF and returned is not None,
                f"{_count(moved)} sent to the slowed {scenario.watch_tier} before the first went elsewhere "
                f"(it kept {_pct(shift.share_during)} of its traffic while slow); "
                f"after recovery {_count(returned)} went elsewhere before the first returned "
                f"(it took back {_pct(shift.share_after)})",
            )
        )
    return verdicts


def straggler_verdicts(runs: Sequence[ContenderRun]) -> list[Verdict]:
    """Hedging against a straggler: adaptive with hedging against `adaptive:no_hedge`, plus every
    contender's answers checked byte for byte."""
    by_name = {run.contender: run for run in runs}
    hedged, plain = by_name.get(ADAPTIVE), by_name.get(f"{ADAPTIVE}:no_hedge")
    verdicts = []
    if hedged is None or plain is None:
        verdicts.append(Verdict(f"p99 TTFT >= {HEDGE_P99_CUT:.0%} lower with hedging", None, "needs adaptive and adaptive:no_hedge"))
    else:
        ours, theirs = (summaries_by_task(run)[ALL_TASKS].ttft_p99_s for run in (hedged, plain))
        cut = 1 - ours / theirs if ours is not None and theirs else None
        verdicts.append(
            Verdict(
                f"p99 TTFT >= {HEDGE_P99_CUT:.0%} lower with hedging",
                None if cut is None else cut >= HEDGE_P99_CUT,
                f"adaptive {ours or 0:.2f} s vs without hedging {theirs or 0:.2f} s: {cut or 0:.0%} lower",
            )
        )
    if hedged is not None and hedged.hedges_sent is not None:
        share = hedged.hedges_sent / len(hedged.results) if hedged.results else 0.0
        verdicts.append(
            Verdict(
                f"extra requests <= {MAX_HEDGE_SHARE:.0%}",
                share <= MAX_HEDGE_SHARE,
                f"{counted(hedged.hedges_sent, 'hedge')} ({hedged.hedges_won} won) "
                f"for {counted(len(hedged.results), 'request')}: {share:.1%}",
            )
        )
    for run in runs:
        checked = [result for result in run.results if result.answer_intact is not None]
        if checked:
            broken = sum(result.answer_intact is False for result in checked)
            verdicts.append(
                Verdict(f"{run.contender}: no duplicated or spliced answer", broken == 0, f"{broken} of {len(checked)} answers checked")
            )
    return verdicts


def _count(value: int | None) -> str:
    return "never" if value is None else str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def conversation_verdicts(runs: Sequence[ContenderRun], hosts: Sequence[str]) -> list[Verdict]:
    summaries = {run.contender: conversation_summary(run, hosts) for run in runs}
    ours = summaries.get(ADAPTIVE)
    if ours is None:
        return [Verdict("adaptive keeps chats on their cache host", None, "needs adaptive")]
    hit, balance = ours.on_cache_host, ours.busiest_over_mean
    verdicts = [
        Verdict(
            f"adaptive: >= {MIN_ON_CACHE_HOST:.0%} of later turns on their cache host",
            hit is not None and hit >= MIN_ON_CACHE_HOST,
            f"{_pct(hit)} of {ours.later_turns}",
        ),
        Verdict(
            f"adaptive: busiest host <= {MAX_BUSIEST_OVER_MEAN:.2f}x the mean load",
            balance is not None and balance <= MAX_BUSIEST_OVER_MEAN,
            "turns per host " + ", ".join(f"{host} {n}" for host, n in ours.host_turns.items()) + f" = {balance or 0:.2f}x the mean",
        ),
    ]
    for versus in ("least_load", "litellm:least_busy"):
        theirs = summaries.get(versus)
        verdicts.append(
            _ratio_verdict(
                f"p90 TTFT <= 1/{TTFT_P90_GAIN:g} of {versus}",
                ours.ttft_p90_s,
                theirs.ttft_p90_s if theirs is not None else None,
                1 / TTFT_P90_GAIN,
                versus,
            )
        )
    return verdicts


COMPLETION_SCENARIOS = ("overload", "replicas", "slowdown")
CALIBRATION_SCENARIOS = ("steady", "overload", "replicas")


def verdicts_for(scenario: Scenario, runs: Sequence[ContenderRun]) -> list[Verdict]:
    if scenario.conversations is not None:  # issue 15's goals are the emulated scenario's; a real fleet's figures are reported as they are
        return [] if scenario.real else conversation_verdicts(runs, [host.name for host in scenario.hosts])
    verdicts: list[Verdict] = []
    if scenario.name == "overload":
        verdicts += overload_verdicts(runs)
    if scenario.name == "real-overload":
        verdicts += real_overload_verdicts(runs)
    if scenario.name == "failure":
        verdicts += failure_verdicts(runs)
    if scenario.name == "slowdown":
        verdicts += slowdown_verdicts(runs, scenario)
    if scenario.name == "straggler":
        verdicts += straggler_verdicts(runs)
    if scenario.name in COMPLETION_SCENARIOS:
        verdicts += completion_verdicts(runs)
    if scenario.name in CALIBRATION_SCENARIOS:
        verdicts += calibration_verdicts(runs)
    return verdicts


def render_verdicts(verdicts: Sequence[Verdict]) -> str:
    marks = {True: "MET", False: "MISSED", None: "n/a"}
    return "\n".join(f"- {marks[verdict.met]}: {verdict.goal}: {verdict.measured}" for verdict in verdicts)

"""Aggregates over a run: per task type, over time, and around the scenario's fault window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from zeta_console.benchmark.results import ContenderRun, Fate, RequestResult
from zeta_console.benchmark.stats import percentile, share

ALL_TASKS = "all"


@dataclass(frozen=True)
class Summary:
    requests: int
    ok: int
    failed: int
    lost: int
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    ttft_p99_s: float | None
    total_p50_s: float | None
    total_p95_s: float | None
    total_p99_s: float | None
    throughput_per_min: float | None  # answered requests per scenario minute
    preferred_share: float | None  # of answered requests, served by their task's first tier
    fallbacks: int  # pre-first-token failovers taken
    recovered: int  # requests answered after at least one failover
    unrecovered_pre_token: int  # requests that failed without ever producing a token
    broken_answers: int  # answered, but the text was not exactly one whole answer (duplicated or spliced)


def summarize(results: Sequence[RequestResult], makespan_s: float) -> Summary:
    answered = [result for result in results if result.fate is Fate.OK]
    ttfts = [result.ttft_s for result in answered if result.ttft_s is not None]
    totals = [result.total_s for result in answered if result.total_s is not None]
    return Summary(
        requests=len(results),
        ok=len(answered),
        failed=sum(result.fate is Fate.FAILED for result in results),
        lost=sum(result.fate is Fate.LOST for result in results),
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p95_s=percentile(ttfts, 95),
        ttft_p99_s=percentile(ttfts, 99),
        total_p50_s=percentile(totals, 50),
        total_p95_s=percentile(totals, 95),
        total_p99_s=percentile(totals, 99),
        throughput_per_min=len(answered) / makespan_s * 60 if makespan_s > 0 else None,
        preferred_share=share(sum(result.tier == result.preferred_tier for result in answered), len(answered)),
        fallbacks=sum(result.fallbacks for result in results),
        recovered=sum(result.fate is Fate.OK and result.fallbacks > 0 for result in results),
        unrecovered_pre_token=sum(result.fate is Fate.FAILED and not result.failed_after_first_token for result in results),
        broken_answers=sum(result.answer_intact is False for result in results),
    )


@dataclass(frozen=True)
class CalibrationSummary:
    """How far the router's predictions were from what it then measured: |predicted - actual| / actual."""

    requests: int  # answered requests that carried a prediction
    ttft_median: float | None
    ttft_p90: float | None
    completion_median: float | None
    completion_p90: float | None


def relative_errors(pairs: Iterable[tuple[float, float | None]]) -> list[float]:
    """|predicted - actual| / actual for each pair with a positive actual."""
    return [abs(predicted - actual) / actual for predicted, actual in pairs if actual is not None and actual > 0]


def calibration(results: Sequence[RequestResult]) -> CalibrationSummary:
    predicted = [result.calibration for result in results if result.fate is Fate.OK and result.calibration is not None]
    ttft = relative_errors((c.predicted_ttft_s, c.actual_ttft_s) for c in predicted)
    completion = relative_errors((c.predicted_completion_s, c.actual_completion_s) for c in predicted)
    return CalibrationSummary(
        len(predicted), percentile(ttft, 50), percentile(ttft, 90), percentile(completion, 50), percentile(completion, 90)
    )


def makespan_s(run: ContenderRun) -> float:
    """From the start to the last answer (or the scenario's end, if later)."""
    ends = [result.at_s + result.total_s for result in run.results if result.total_s is not None]
    return max([run.duration_s, *ends])


def summaries_by_task(run: ContenderRun) -> dict[str, Summary]:
    span = makespan_s(run)
    by_task: dict[str, Summary] = {ALL_TASKS: summarize(run.results, span)}
    for task in sorted({result.task for result in run.results}):
        by_task[task.value] = summarize([result for result in run.results if result.task is task], span)
    return by_task


def ttft_p95_over_time(run: ContenderRun, windows: int = 20) -> list[tuple[float, float | None]]:
    """(window midpoint, p95 TTFT of the requests that arrived in it), in scenario seconds."""
    width = run.duration_s / windows
    series: list[tuple[float, float | None]] = []
    for window in range(windows):
        start = window * width
        in_window = [
            result.ttft_s
            for result in run.results
            if start <= result.at_s < start + width and result.fate is Fate.OK and result.ttft_s is not None
        ]
        series.append((start + width / 2, percentile(in_window, 95)))
    return series


@dataclass(frozen=True)
class Shift:
    """How a policy moved traffic off a degraded tier and back (the slowdown goal)."""

    sent_before_moving_off: int | None  # requests sent to the tier after onset before one went elsewhere
    share_during: float | None  # of the tier's own traffic, served by it while degraded
    sent_elsewhere_before_return: int | None  # after recovery, requests sent elsewhere before one returned
    share_after: float | None  # of the tier's own traffic, served by it after recovery


def traffic_shift(results: Iterable[RequestResult], tier: str, onset_s: float, recovery_s: float) -> Shift:
    own = sorted((result for result in results if result.preferred_tier == tier and result.tier), key=lambda result: result.at_s)
    during = [result for result in own if onset_s <= result.at_s < recovery_s]
    after = [result for result in own if result.at_s >= recovery_s]
    return Shift(
        sent_before_moving_off=_count_until(during, lambda result: result.tier != tier),
        share_during=share(sum(result.tier == tier for result in during), len(during)),
        sent_elsewhere_before_return=_count_until(after, lambda result: result.tier == tier),
        share_after=share(sum(result.tier == tier for result in after), len(after)),
    )


def _count_until(ordered: Sequence[RequestResult], condition: Callable[[RequestResult], bool]) -> int | None:
    for position, result in enumerate(ordered):
        if condition(result):
            return position
    return None


@dataclass(frozen=True)
class Conversations:
    """How a run served multi-turn chats (the affinity goal)."""

    turns: int  # every turn of every chat
    later_turns: int  # answered turns whose chat's previous turn was answered too: they have a cache host
    on_cache_host: float | None  # of those, served by the host that served the previous turn (affinity hit rate)
    ttft_p50_s: float | None  # over every answered turn
    ttft_p90_s: float | None
    host_turns: Mapping[str, int]  # answered turns per host: the load
    busiest_over_mean: float | None  # the busiest host's turns over the mean over hosts that serve chats
    prompt_tokens: int | None = None  # over the answered turns whose server counted them (None: no server did) ...
    cached_prompt_tokens: int | None = None  # ... and of those, what the servers reused from their prompt caches


def conversation_summary(run: ContenderRun, hosts: Sequence[str]) -> Conversations | None:
    """None when the run had no conversations. `hosts`: every host serving the chats' tier (an idle one counts)."""
    turns = sorted((result for result in run.results if result.conversation is not None), key=lambda r: (r.conversation, r.turn))
    if not turns:
        return None
    answered = [result for result in turns if result.fate is Fate.OK]
    previous_host: dict[int, str | None] = {}
    later = same = 0
    for result in turns:
        assert result.conversation is not None
        cache_host = previous_host.get(result.conversation) if result.turn else None
        served_host = result.host if result.fate is Fate.OK else None
        if cache_host is not None and served_host is not None:
            later += 1
            same += served_host == cache_host
        previous_host[result.conversation] = served_host
    loads = Counter(result.host for result in answered if result.host)
    host_turns = {host: loads.get(host, 0) for host in hosts}
    mean = sum(host_turns.values()) / len(host_turns) if host_turns else 0.0
    ttfts = [result.ttft_s for result in answered if result.ttft_s is not None]
    counted = [result for result in answered if result.prompt_tokens is not None and result.cached_prompt_tokens is not None]
    return Conversations(
        turns=len(turns),
        later_turns=later,
        on_cache_host=share(same, later),
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p90_s=percentile(ttfts, 90),
        host_turns=host_turns,
        busiest_over_mean=max(host_turns.values()) / mean if mean > 0 else None,
        prompt_tokens=sum(result.prompt_tokens or 0 for result in counted) if counted else None,
        cached_prompt_tokens=sum(result.cached_prompt_tokens or 0 for result in counted) if counted else None,
    )

"""`threshold`: the preferred tier unless it is over a threshold (TTFT p95, latency p95, queue,
error rate), then the next tier in route order that is within them; if all are over, the least
over. The score is the worst ratio of a metric to its threshold (> 1 = over). The queue counts the
server's own waiting requests where it reports them."""

from __future__ import annotations

from functools import partial

from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.base import (
    LATER_IN_ROUTE,
    Candidates,
    PolicyResult,
    Screen,
    ScreenedPolicy,
    all_full,
    assemble,
    outstanding,
    pick_lowest,
    queue_estimate,
    scored_candidate,
    seconds,
    server_count,
    server_notes,
    unavailable,
    with_notes,
)

OVER_THRESHOLD = "over threshold: "


def _ratio(value: float | None, limit: float) -> float:
    if value is None:
        return 0.0
    if limit > 0:
        return value / limit
    return float("inf") if value > 0 else 0.0


RATIOS = ("ttft_p95", "latency_p95", "queue", "error_rate")
Ratios = tuple[float, float, float, float]  # values in RATIOS order


def threshold_ratios(e: EndpointState) -> tuple[float, Ratios]:
    """The worst ratio of a metric to its threshold, and each ratio."""
    t = e.thresholds
    ttft = _ratio(e.ttft_p95_s, t.ttft_s)
    latency = _ratio(e.latency_p95_s, t.latency_s)
    queue = _ratio(queue_estimate(e), t.queue)
    errors = _ratio(e.error_rate, t.error_rate)
    return max(ttft, latency, queue, errors), (ttft, latency, queue, errors)


def crossed(e: EndpointState) -> str:
    """The thresholds an endpoint is over, for the reason: "TTFT p95 2.40 s > 1.00 s, queue 6 > 4"."""
    t = e.thresholds
    over = []
    if e.ttft_p95_s is not None and e.ttft_p95_s > t.ttft_s:
        over.append(f"TTFT p95 {seconds(e.ttft_p95_s)} > {seconds(t.ttft_s)}")
    if e.latency_p95_s is not None and e.latency_p95_s > t.latency_s:
        over.append(f"latency p95 {seconds(e.latency_p95_s)} > {seconds(t.latency_s)}")
    queue = queue_estimate(e)
    if queue > t.queue:
        count = server_count(e)
        over.append(f"queue {queue} > {t.queue}" + (f" ({count})" if count else ""))
    if e.error_rate > t.error_rate:
        over.append(f"error rate {e.error_rate:.0%} > {t.error_rate:.0%}")
    return ", ".join(over)


class ThresholdPolicy(ScreenedPolicy):
    name = "threshold"

    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        pool = s.pool
        scores: list[float] = []
        ratios: list[Ratios] = []
        within: set[str] = set()  # tiers with an endpoint within every threshold
        for e in pool:
            worst, r = threshold_ratios(e)
            scores.append(worst)
            ratios.append(r)
            if worst <= 1.0:
                within.add(e.tier)
        tier = next((t for t in s.tiers if t in within), None)
        if tier is None:
            chosen = pool[pick_lowest(scores, inp.rng)]
            reason = f"every endpoint over a threshold; {chosen.id} is the least over ({crossed(chosen)})"
            replicas = [chosen]
        else:
            replicas = [e for e, score in zip(pool, scores, strict=True) if score <= 1.0 and e.tier == tier]
            chosen = replicas[pick_lowest([float(outstanding(e)) for e in replicas], inp.rng)]
            reason = _fallback_reason(inp, s, tier, chosen, scores)
        wait = all_full(pool)
        extra = "every slot busy, waiting" if wait else ""
        candidates = partial(_candidates, inp.endpoints, s, tier, scores, ratios)
        return PolicyResult(chosen.id, candidates, with_notes(reason, s, server_notes(*replicas), extra), wait)


def _fallback_reason(inp: DecisionInput, s: Screen, tier: str, chosen: EndpointState, scores: list[float]) -> str:
    skipped = []
    for t in s.tiers[: s.tiers.index(tier)]:
        members = [i for i, e in enumerate(s.pool) if e.tier == t]
        if members:
            least_over = s.pool[min(members, key=scores.__getitem__)]
            skipped.append(f"{least_over.id} {crossed(least_over)}")
        else:
            skipped.append(unavailable(t, inp.endpoints, s))
    if not skipped:
        return f"{chosen.id} within thresholds"
    return f"{'; '.join(skipped)}; fell back to {chosen.id}"


def _candidates(endpoints: tuple[EndpointState, ...], s: Screen, tier: str | None, scores: list[float], ratios: list[Ratios]) -> Candidates:
    """The fleet's candidates: the pool scored with its ratios, each saying why it lost when `tier` took the request."""
    rank = s.tiers.index(tier) if tier is not None else None
    scored = {}
    for e, score, r in zip(s.pool, scores, ratios, strict=True):
        scored[e.id] = scored_candidate(e, score, _named(r), None if rank is None else _passed_over(s, rank, e, score, r))
    return assemble(endpoints, scored, s.rejected)


def _passed_over(s: Screen, rank: int, e: EndpointState, score: float, r: Ratios) -> str | None:
    """Why an endpoint lost to the tier at `rank`: over a threshold, or later in the route."""
    if score > 1.0:
        # Name the worst metric only: the terms hold the ratios, and formatting every loser's
        # numbers would double the cost of a decision under load.
        return OVER_THRESHOLD + RATIOS[r.index(score)]
    if s.tiers.index(e.tier) > rank:
        return LATER_IN_ROUTE
    return None


def _named(r: Ratios) -> dict[str, float]:
    return {"ttft_p95": r[0], "latency_p95": r[1], "queue": r[2], "error_rate": r[3]}

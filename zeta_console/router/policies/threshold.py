"""`threshold`: the preferred tier unless it is over a threshold (TTFT p95, latency p95, queue,
error rate), then the next tier in route order that is within them; if all are over, the least
over. The score is the worst ratio of a metric to its threshold (> 1 = over)."""

from __future__ import annotations

from zeta_console.router.api import CandidateScore
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.base import (
    LATER_IN_ROUTE,
    PolicyResult,
    ScreenedPolicy,
    Screen,
    all_full,
    assemble,
    outstanding,
    pick_lowest,
    queue_estimate,
    scored_candidate,
    seconds,
    unavailable,
    with_notes,
)
from zeta_console.settings import PolicyName


OVER_THRESHOLD = "over threshold: "


def _ratio(value: float | None, limit: float) -> float:
    if value is None:
        return 0.0
    if limit > 0:
        return value / limit
    return float("inf") if value > 0 else 0.0


def threshold_ratios(e: EndpointState) -> tuple[float, dict[str, float]]:
    """The worst ratio of a metric to its threshold, and each ratio."""
    t = e.thresholds
    ttft = _ratio(e.ttft_p95_s, t.ttft_s)
    latency = _ratio(e.latency_p95_s, t.latency_s)
    queue = _ratio(queue_estimate(e), t.queue)
    errors = _ratio(e.error_rate, t.error_rate)
    return max(ttft, latency, queue, errors), {"ttft_p95": ttft, "latency_p95": latency, "queue": queue, "error_rate": errors}


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
        over.append(f"queue {queue} > {t.queue}")
    if e.error_rate > t.error_rate:
        over.append(f"error rate {e.error_rate:.0%} > {t.error_rate:.0%}")
    return ", ".join(over)


class ThresholdPolicy(ScreenedPolicy):
    name = PolicyName.THRESHOLD.value

    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        scored: dict[str, CandidateScore] = {}
        within: list[EndpointState] = []
        for e in s.pool:
            worst, ratios = threshold_ratios(e)
            scored[e.id] = scored_candidate(e, worst, ratios)
            if worst <= 1.0:
                within.append(e)
        tier = next((t for t in s.tiers if any(e.tier == t for e in within)), None)
        if tier is None:
            pool = s.pool
            chosen = pool[pick_lowest([scored[e.id].score for e in pool], inp.rng)]
            reason = f"every endpoint over a threshold; {chosen.id} is the least over ({crossed(chosen)})"
        else:
            replicas = [e for e in within if e.tier == tier]
            chosen = replicas[pick_lowest([float(outstanding(e)) for e in replicas], inp.rng)]
            reason = self._fallback_reason(inp, s, tier, chosen, scored)
            self._mark_passed_over(s, tier, scored)
        wait = all_full(s.pool)
        extra = "every slot busy, waiting" if wait else ""
        return PolicyResult(chosen.id, assemble(inp.endpoints, scored, s.rejected), with_notes(reason, s, extra), wait)

    @staticmethod
    def _fallback_reason(inp: DecisionInput, s: Screen, tier: str, chosen: EndpointState, scored: dict[str, CandidateScore]) -> str:
        skipped = []
        for t in s.tiers[: s.tiers.index(tier)]:
            members = [e for e in s.pool if e.tier == t]
            if members:
                least_over = min(members, key=lambda e: scored[e.id].score)
                skipped.append(f"{least_over.id} {crossed(least_over)}")
            else:
                skipped.append(unavailable(t, inp.endpoints, s))
        if not skipped:
            return f"{chosen.id} within thresholds"
        return f"{'; '.join(skipped)}; fell back to {chosen.id}"

    @staticmethod
    def _mark_passed_over(s: Screen, tier: str, scored: dict[str, CandidateScore]) -> None:
        """Say why each other endpoint lost: over a threshold, or later in the route."""
        rank = s.tiers.index(tier)
        for e in s.pool:
            c = scored[e.id]
            if c.score > 1.0:
                # Name the worst metric only: the terms hold the ratios, and formatting every
                # loser's numbers would double the cost of a decision under load.
                scored[e.id] = scored_candidate(e, c.score, c.terms, OVER_THRESHOLD + max(c.terms, key=c.terms.__getitem__))
            elif s.tiers.index(e.tier) > rank:
                scored[e.id] = scored_candidate(e, c.score, c.terms, LATER_IN_ROUTE)

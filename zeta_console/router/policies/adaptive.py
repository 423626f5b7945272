"""`adaptive`: rank endpoints by predicted time to first token (completion for embeddings).

score = (wait_s + load_s + prefill_s) x feedback x retry + tier_penalty_s   (lower is better)
  wait_s          work ahead beyond the free slots x expected service time / slots
  load_s          cold-start time when the model is not resident (a busy warm endpoint can lose
                  to an idle cold one: warm-first only while warm is idle)
  prefill_s       prompt tokens x prefill rate (peak-EWMA TTFT when the rate is unknown), slowed by
                  the requests sharing the endpoint's parallel slots
  feedback        the feedback loop's weight for (task, tier), 1.0 = neutral
  retry           1 / (1 - error rate): the expected number of tries
  tier_penalty_s  route rank x half the tier's TTFT threshold, so the preferred tier wins while
                  loads are similar
Saturated endpoints (queue over threshold, stale telemetry) are excluded unless all are; tiers
with many replicas are sampled two at a time (power of two choices); with probability
`explore_rate` a random eligible endpoint is taken so recovered ones get measured again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from zeta_console.router.api import CandidateScore
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.base import (
    SEED_LOAD_S,
    SEED_SERVICE_S,
    STALE_TELEMETRY_S,
    PolicyResult,
    all_full,
    assemble,
    nothing_available,
    pick_lowest,
    queue_estimate,
    scored_candidate,
    screen,
    seconds,
    ttft_estimate,
    with_notes,
)
from zeta_console.settings import PolicyName, Settings

TIER_PENALTY_PER_RANK = 0.5  # x the endpoint's TTFT threshold, per step down the route
P2C_ABOVE = 4  # replicas in a tier beyond which only two random ones are scored
MAX_ERROR_RATE = 0.9  # caps the retry factor at 10
NOT_SAMPLED = "not sampled (power of two choices)"
_ADDITIVE_TERMS = ("wait_s", "load_s", "prefill_s", "tier_penalty_s")
_FACTOR_TERMS = ("feedback", "retry")


def predict(e: EndpointState, prompt_tokens: int, embedding: bool, rank: int, weight: float) -> dict[str, float]:
    """The terms of an endpoint's score, and the score itself under "score"."""
    slots = e.slots if e.slots > 0 else 1
    service = e.latency_ewma_s if e.latency_ewma_s is not None else e.latency_p95_s if e.latency_p95_s is not None else SEED_SERVICE_S
    ahead = e.in_flight + e.queued + e.recent_fast_failures + 1 - slots
    wait = ahead * service / slots if ahead > 0 else 0.0
    load = (e.load_s if e.load_s is not None else SEED_LOAD_S) if e.resident is False else 0.0
    if e.prefill_s_per_token is not None:
        base = prompt_tokens * e.prefill_s_per_token
    else:
        base = service if embedding else ttft_estimate(e)
    prefill = base * (1.0 + min(e.in_flight, slots - 1) / slots)
    retry = 1.0 / (1.0 - min(e.error_rate, MAX_ERROR_RATE))
    penalty = rank * TIER_PENALTY_PER_RANK * e.thresholds.ttft_s
    return {
        "wait_s": wait,
        "load_s": load,
        "prefill_s": prefill,
        "tier_penalty_s": penalty,
        "feedback": weight,
        "retry": retry,
        "score": (wait + load + prefill) * weight * retry + penalty,
    }


def saturation(e: EndpointState) -> str | None:
    """Why the endpoint should not take more work now, or None."""
    queue = queue_estimate(e)
    if queue > e.thresholds.queue:
        return f"saturated: queue {queue} > {e.thresholds.queue}"
    if e.last_sample_age_s is not None and e.last_sample_age_s > STALE_TELEMETRY_S:
        return f"saturated: telemetry {e.last_sample_age_s:.0f} s old"
    return None


def deciding_term(winner: Mapping[str, float], runner_up: Mapping[str, float]) -> str:
    """The term on which the winner gained most over the runner-up."""
    term = max(_ADDITIVE_TERMS, key=lambda k: runner_up[k] - winner[k])
    if runner_up[term] > winner[term]:
        return term
    return max(_FACTOR_TERMS, key=lambda k: runner_up[k] / winner[k])


class AdaptivePolicy:
    name = PolicyName.ADAPTIVE.value

    def __init__(self, settings: Settings) -> None:
        self._routes = settings.routes
        self._explore_rate = settings.adaptive.explore_rate

    def decide(self, inp: DecisionInput) -> PolicyResult:
        s = screen(inp, self._routes)
        if not s.pool:
            return nothing_available(inp, s, self.name)
        rng = inp.rng
        pool = _power_of_two(s.pool, s.rejected, rng) if len(s.pool) > P2C_ABOVE else s.pool
        rank = {t: i for i, t in enumerate(s.tiers)}
        task = inp.classification.task
        weights = inp.feedback_weights
        embedding = "embedding" in inp.needs
        prompt_tokens = inp.prompt_tokens
        terms = [predict(e, prompt_tokens, embedding, rank[e.tier], weights.get((task, e.tier), 1.0)) for e in pool]

        saturated = [saturation(e) for e in pool]
        open_ = [i for i, why in enumerate(saturated) if why is None] or list(range(len(pool)))
        best = open_[pick_lowest([terms[i]["score"] for i in open_], rng)]
        explore = len(open_) > 1 and rng.random() < self._explore_rate
        chosen = rng.choice(open_) if explore else best

        scored = {}
        for i, e in enumerate(pool):
            t = terms[i]
            scored[e.id] = scored_candidate(e, t.pop("score"), t, saturated[i] if saturated[i] and len(open_) < len(pool) else None)
        winner = scored[pool[chosen].id]
        parts = [self._headline(winner, embedding)]
        if explore:
            parts.append(f"explore: random pick at rate {self._explore_rate:.0%}, best by score was {pool[best].id}")
        runner_up = min((scored[pool[i].id] for i in open_ if i != chosen), key=_by_score, default=None)
        if runner_up is not None:
            parts.append(f"beat {runner_up.endpoint} (score {runner_up.score:.2f}) on {deciding_term(winner.terms, runner_up.terms)}")
        if len(open_) < len(pool):
            parts.extend(f"{e.id} {why}" for e, why in zip(pool, saturated) if why is not None)
        elif saturated[chosen] is not None:
            parts.append("every endpoint saturated; least bad chosen")
        wait = all_full(s.pool)
        if wait:
            parts.append("every slot busy, waiting")
        return PolicyResult(winner.endpoint, assemble(inp.endpoints, scored, s.rejected), with_notes("; ".join(parts), s), wait)

    @staticmethod
    def _headline(winner: CandidateScore, embedding: bool) -> str:
        t = winner.terms
        predicted = t["wait_s"] + t["load_s"] + t["prefill_s"]
        return f"{winner.endpoint} predicted {'completion' if embedding else 'TTFT'} {seconds(predicted)} (score {winner.score:.2f})"


def _by_score(candidate: CandidateScore) -> float:
    return candidate.score


def _power_of_two(pool: list[EndpointState], rejected: dict[str, str], rng: random.Random) -> list[EndpointState]:
    by_tier: dict[str, list[EndpointState]] = {}
    for e in pool:
        by_tier.setdefault(e.tier, []).append(e)
    kept: list[EndpointState] = []
    for members in by_tier.values():
        if len(members) > P2C_ABOVE:
            picked = rng.sample(members, 2)
            for e in members:
                if e not in picked:
                    rejected[e.id] = NOT_SAMPLED
            members = picked
        kept.extend(members)
    return kept

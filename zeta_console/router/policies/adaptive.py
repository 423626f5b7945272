"""`adaptive`: rank endpoints by the predicted time the caller waits for (policies/prediction.py).

score = (wait_s + load_s + prefill_s + decode_s) x feedback x retry + overhead_s + first_token_s + tier_penalty_s + hold_s
                                                                                                   (lower is better)
  wait_s .. overhead_s  the predicted TTFT (prediction.py says how each is estimated; `predicted_wait_s`,
                  which admission uses to shed a request that would wait past its patience, is wait_s;
                  the work and the slots are the server's own where it reports them: llama.cpp, vLLM, SGLang);
                  the overhead (mostly the host's network and scheduling, shared by its endpoints) is
                  not weighted: scaled by different weights, a shared constant would make a difference
                  between endpoints that is not there
  decode_s        the decode time the caller notices: all of it for non-streaming calls and programs
                  (expected output tokens x measured seconds per token), only what is slower than
                  reading for a person reading a stream (`adaptive.reading_s_per_token`), 0 for embeddings
  first_token_s   for a caller waiting for the whole answer (not embeddings): `adaptive.first_token_weight` (2.0)
                  x the predicted TTFT, so that a later first token still costs: an endpoint that answers a
                  little later but starts much sooner wins, and waiting for a busy fast endpoint pays for the
                  wait 1 + weight times (the wait is also the least certain part of the prediction)
  feedback        the feedback loop's weight for (task, tier), 1.0 = neutral
  retry           1 / (1 - error rate): the expected number of tries
  tier_penalty_s  route rank x half the tier's TTFT threshold, so the preferred tier wins while
                  loads are similar
  hold_s          for a streamed request (its reader does not wait for the decode, the next request does):
                  `adaptive.hold_weight` (1.0) x the wait its answer's slot time imposes on the requests arriving
                  at the endpoint meanwhile: arrival rate x turn^2 / 2, turn = slot time / slots (`hold_s`)
Congested (a streamed request, whose reader starts at the first token; the best by that score has no free slot,
another eligible endpoint has one): ranked by (wait_s + load_s + prefill_s) x feedback x retry + overhead_s + hold_s,
the predicted first token and the wait it imposes, rather than wait. A whole-answer caller keeps its ranking: it sees no first token.
The candidates also show each endpoint's predicted `ttft_s` and `completion_s` (not in the score).
For a conversation the router has seen (`inp.session`), the endpoint holding its prefix in its
prompt cache prefills only the uncached part, and it keeps the session unless its score exceeds
the best other's by more than `affinity.margin` (policies/affinity.py: "affinity hit / miss / moved").
With `adaptive.tier_tolerance` above 1, the route's most preferred tier not saturated takes the request from a best
on another tier while the time its caller waits for there is within that factor of the best's (before affinity;
policies/tier_preference.py: "kept on / left preferred tier").
Saturated endpoints (queue over threshold, stale telemetry) are excluded unless all are; tiers
with many replicas are sampled two at a time (power of two choices); with probability
`explore_rate` a random eligible endpoint not known cold and with a free slot is taken so recovered ones get measured again.
An endpoint never measured (no TTFT, latency, prefill or decode sample) is scored on seeds that guess, so while it is
idle and not known cold, and another endpoint of the pool has been measured, it takes the request
instead of the best score ("measure: ..."), once at a time, until its first answer replaces the seeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial

from zeta_console.router.api import Ranking
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.affinity import Stick, holder_index, stick
from zeta_console.router.policies.base import (
    STALE_TELEMETRY_S,
    Candidates,
    PolicyResult,
    Screen,
    ScreenedPolicy,
    all_full,
    assemble,
    capacity,
    has_free_slot,
    on_server,
    pick_lowest,
    queue_estimate,
    runner_up,
    scored_candidate,
    seconds,
    server_notes,
    with_notes,
)
from zeta_console.router.policies.prediction import estimate, expected_output, relaxed_note, silent_note
from zeta_console.router.policies.tier_preference import Preference, prefer_tier
from zeta_console.settings import Settings

TIER_PENALTY_PER_RANK = 0.5  # x the endpoint's TTFT threshold, per step down the route
P2C_ABOVE = 4  # replicas in a tier beyond which only two random ones are scored
MAX_ERROR_RATE = 0.9  # caps the retry factor at 10
NOT_SAMPLED = "not sampled (power of two choices)"
SATURATED = "saturated: "
TERMS = ("wait_s", "load_s", "prefill_s", "overhead_s", "decode_s", "first_token_s", "tier_penalty_s", "hold_s", "feedback", "retry")
Terms = tuple[float, float, float, float, float, float, float, float, float, float, float]  # TERMS, then the whole expected decode
_ADDITIVE = (0, 1, 2, 3, 4, 6, 7)  # first_token_s is weight x the TTFT terms: the deciding term is the one of those
_FACTORS = (8, 9)


def is_saturated(e: EndpointState) -> bool:
    """Queue over threshold or stale telemetry: the endpoint should not take more work now."""
    age = e.last_sample_age_s
    return queue_estimate(e) > e.thresholds.queue or (age is not None and age > STALE_TELEMETRY_S)


def saturation(e: EndpointState) -> str:
    """Why a saturated endpoint should not take more work now."""
    queue = queue_estimate(e)
    if queue > e.thresholds.queue:
        return f"queue {queue} > {e.thresholds.queue}"
    return f"telemetry {e.last_sample_age_s:.0f} s old"


def deciding_term(winner: Terms, beaten: Terms) -> str:
    """The term on which the winner gained most over the endpoint it beat."""
    gain, term = max([(beaten[i] - winner[i], TERMS[i]) for i in _ADDITIVE])
    if gain > 0:
        return term
    return max([(beaten[i] / winner[i], TERMS[i]) for i in _FACTORS])[1]


class AdaptivePolicy(ScreenedPolicy):
    name = "adaptive"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._explore_rate = settings.adaptive.explore_rate
        self._reading_s_per_token = settings.adaptive.reading_s_per_token
        self._first_token_weight = settings.adaptive.first_token_weight
        self._hold_weight = settings.adaptive.hold_weight
        self._tier_tolerance = settings.adaptive.tier_tolerance

    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        rng = inp.rng
        pool = _power_of_two(s.pool, s.tiers, s.rejected, rng) if len(s.pool) > P2C_ABOVE else s.pool
        task = inp.classification.task
        weights = inp.feedback_weights
        factors = {t: (i * TIER_PENALTY_PER_RANK, weights.get((task, t), 1.0), expected_output(inp, t)) for i, t in enumerate(s.tiers)}
        embedding = "embedding" in inp.needs
        completion = embedding or inp.ranking is Ranking.COMPLETION
        reading = 0.0 if completion else self._reading_s_per_token
        first_token_weight = self._first_token_weight if completion and not embedding else 0.0
        hold_weight = 0.0 if completion else self._hold_weight
        prompt_tokens = inp.prompt_tokens
        session = inp.session
        holder = holder_index(session, pool)
        scores: list[float] = []
        terms: list[Terms] = []
        open_: list[int] = []
        shut: list[int] = []
        for i, e in enumerate(pool):
            rank_penalty, weight, output = factors[e.tier]
            uncached = prompt_tokens - session.cached_tokens if i == holder and session is not None else prompt_tokens
            wait, load, prefill, overhead, decode, full_decode = estimate(e, uncached, embedding, output, reading)
            error_rate = e.error_rate
            retry = 1.0 / (1.0 - (error_rate if error_rate < MAX_ERROR_RATE else MAX_ERROR_RATE)) if error_rate else 1.0
            penalty = rank_penalty * e.thresholds.ttft_s
            first_token = first_token_weight * (wait + load + prefill + overhead)
            hold = hold_weight * hold_s(e, load + prefill + overhead + full_decode) if hold_weight else 0.0
            scores.append((wait + load + prefill + decode) * weight * retry + overhead + first_token + penalty + hold)
            terms.append((wait, load, prefill, overhead, decode, first_token, penalty, hold, weight, retry, full_decode))
            (shut if is_saturated(e) else open_).append(i)
        gated = bool(open_ and shut)
        if gated:
            best = open_[pick_lowest([scores[i] for i in open_], rng)]
        else:
            if shut:  # every endpoint saturated: all of them open (none saturated: open_ is all of them already)
                open_ = list(range(len(pool)))
            best = pick_lowest(scores, rng)
        congested = None if completion else _congested(pool, open_, best)
        if congested is not None:  # ranked by the first token alone, and the wait the answer imposes on the next ones
            scores = [
                (wait + load + prefill) * weight * retry + overhead + hold
                for wait, load, prefill, overhead, *_, hold, weight, retry, _ in terms
            ]
            best = open_[pick_lowest([scores[i] for i in open_], rng)]
        preference = None
        if self._tier_tolerance > 1.0:  # 1: the ranking alone (policies/tier_preference.py)
            waited = [t[0] + t[1] + t[2] + t[3] + (t[10] if completion else t[4]) for t in terms]
            unsaturated = open_ if gated or not shut else []
            what = "completion" if completion else "TTFT + decode slower than reading"
            preference = prefer_tier(self._tier_tolerance, s.tiers, pool, unsaturated, best, scores, waited, what, rng)
            if preference is not None:
                best = preference.chosen
        excluded = partial(_saturated_reasons, pool, shut if gated else [], {})
        affinity = stick(session, pool, holder, best, scores, open_, excluded, s.rejected) if session is not None else None
        if affinity is not None:
            best = affinity.chosen
        held = affinity is not None and affinity.hit  # measuring or exploring would cost a held session its cache
        unmeasured = None if held else _unmeasured(pool, open_, scores)
        explore = unmeasured is None and not held and len(open_) > 1 and rng.random() < self._explore_rate
        if explore:  # never a cold endpoint (its caller would pay for a model load to measure it), nor a busy one (it
            # would wait for that endpoint alone while the best could start it now: in overload, 5-10 s for the reasoner)
            warm = [i for i in open_ if pool[i].resident is not False and has_free_slot(pool[i])]
            explore = len(warm) > 1
        chosen = unmeasured if unmeasured is not None else rng.choice(warm) if explore else best

        wait = all_full(s.pool)
        cached = (holder, session.cached_tokens) if holder is not None and session is not None else None
        candidates = partial(_candidates, inp.endpoints, s.rejected, pool, scores, terms, excluded, cached)
        explained = partial(
            self._reason, s, pool, scores, terms, open_, chosen, best, gated, excluded, affinity, unmeasured, explore, completion,
            first_token_weight, wait, congested, preference,
        )
        return PolicyResult(pool[chosen].id, candidates, explained, wait)

    def _reason(
        self,
        s: Screen,
        pool: list[EndpointState],
        scores: list[float],
        terms: list[Terms],
        open_: list[int],
        chosen: int,
        best: int,
        gated: bool,
        excluded: Callable[[], dict[int, str]],
        affinity: Stick | None,
        unmeasured: int | None,
        explore: bool,
        completion: bool,
        first_token_weight: float,
        wait: bool,
        congested: int | None,
        preference: Preference | None,
    ) -> str:
        """The decision's reason, built when first read (the router reads it for the dispatched decision only)."""
        winner = pool[chosen]
        t = terms[chosen]
        ttft = t[0] + t[1] + t[2] + t[3]
        parts = [
            f"{winner.id} predicted TTFT {seconds(ttft)}, completion {seconds(ttft + t[10])}"
            f" (score {scores[chosen]:.2f}, by {'TTFT' if congested is not None else _ranked_by(completion, first_token_weight)})"
        ]
        if congested is not None:
            parts.append(f"congested: {pool[congested].id}, best by {_ranked_by(completion, first_token_weight)}, has no free slot")
        if preference is not None:
            parts.append(preference.reason)
        if affinity is not None:
            parts.append(affinity.reason)
        if unmeasured is not None and unmeasured != best:
            parts.append(f"measure: {winner.id} never measured and idle, tried before its seeds decide; otherwise {pool[best].id}")
        if explore:
            parts.append(f"explore: random pick at rate {self._explore_rate:.0%}, otherwise {pool[best].id}")
        kept = preference is not None and preference.kept and chosen == preference.preferred  # its phrase names what it passed over
        beaten = None if kept else runner_up(scores, open_, chosen)
        if beaten is not None:
            parts.append(f"beat {pool[beaten].id} (score {scores[beaten]:.2f}) on {deciding_term(t, terms[beaten])}")
        held = [f"{pool[i].id} {terms[i][7]:.2f}" for i in (chosen, beaten) if i is not None and terms[i][7]]
        if held:
            parts.append(f"hold_s (the wait its answer's slot time imposes on the arrivals there): {', '.join(held)}")
        parts.append(server_notes(winner, pool[beaten] if beaten is not None else None))
        parts.append(relaxed_note(winner))
        parts.extend(silent_note(pool[i], sum(terms[i][:4])) for i in (chosen, beaten) if i is not None)
        if gated:
            parts.extend(f"{pool[i].id} {why}" for i, why in excluded().items())
        elif is_saturated(winner):
            parts.append(f"every endpoint saturated ({saturation(winner)}); least bad chosen")
        if wait:
            parts.append("every slot busy, waiting")
        return with_notes("; ".join([part for part in parts if part]), s)


def _congested(pool: list[EndpointState], open_: list[int], best: int) -> int | None:
    """`best` when it has no free slot and another open endpoint has one, else None. A streamed request would wait for
    the endpoint that answers soonest while another could start it now: then it is ranked by its first token alone,
    which is when its reader starts (in `overload` the burst's requests waited for the busy coder while the reasoner
    idled, 1.5x the first-token tail of a router ranking by TTFT alone). A caller waiting for the whole answer is not:
    it sees no first token, and the free endpoint's longer answer is its wait (BENCHMARKS.md, `streamrank`)."""
    if has_free_slot(pool[best]) or not any(has_free_slot(pool[i]) for i in open_):
        return None
    return best


def hold_s(e: EndpointState, slot_s: float) -> float:
    """The wait an answer holding one of `e`'s slots for `slot_s` imposes on the requests arriving there meanwhile: its
    recent arrivals during that time, per slot, each starting on average half of it later (M/G/1's residual wait, a
    turn being slot_s / slots). An endpoint with few slots for its arrivals pays for a long answer; a streamed reader
    does not wait for the decode, but the next request does (BENCHMARKS.md, `streamcost`)."""
    turn = slot_s / capacity(e)
    return e.arrivals_per_s * turn * turn / 2.0


def _saturated_reasons(pool: list[EndpointState], shut: list[int], reasons: dict[int, str]) -> dict[int, str]:
    """Why each saturated endpoint (pool indices `shut`) is excluded, into `reasons` on the first call: a decision
    builds them only when its reason or candidates are read, and once for both."""
    if len(reasons) < len(shut):
        for i in shut:
            reasons[i] = SATURATED + saturation(pool[i])
    return reasons


def never_measured(e: EndpointState) -> bool:
    """No answer from the endpoint has been timed yet: its predictions are seeds."""
    timed = (e.ttft_ewma_s, e.latency_ewma_s, e.latency_p95_s, e.prefill_s_per_token, e.decode_tps)
    return all(value is None for value in timed)


def _unmeasured(pool: list[EndpointState], open_: list[int], scores: list[float]) -> int | None:
    """The best-scored open endpoint never measured, idle, not known cold and not failing, while another of
    the pool has been measured: its seeds (a TTFT threshold, a conservative decode rate) guess, and a
    preferred tier left on them can lose every request to a busy measured one until a random pick finds it."""
    found = None
    for i in open_:
        e = pool[i]
        if (
            e.ttft_ewma_s is None  # the cheap test first: this runs for every decision
            and never_measured(e)
            and on_server(e) == 0
            and e.queued == 0
            and e.resident is not False
            and e.error_rate == 0.0
            and e.recent_fast_failures == 0
            and (found is None or scores[i] < scores[found])
        ):
            found = i
    if found is None or all(never_measured(e) for e in pool):
        return None
    return found


def _ranked_by(completion: bool, first_token_weight: float) -> str:
    if not completion:
        return "TTFT + decode slower than reading"
    return f"completion + first token x {first_token_weight:g}" if first_token_weight else "completion"


def _candidates(
    endpoints: tuple[EndpointState, ...],
    rejected: dict[str, str],
    pool: list[EndpointState],
    scores: list[float],
    terms: list[Terms],
    excluded: Callable[[], dict[int, str]],
    cached: tuple[int, int] | None,
) -> Candidates:
    """The fleet's candidates: the pool scored with its terms (`excluded`: the saturated ones, by pool
    index; `cached`: the session holder's pool index and the prompt tokens its cache serves)."""
    saturated = excluded()
    scored = {e.id: scored_candidate(e, scores[i], _named(terms[i]), saturated.get(i)) for i, e in enumerate(pool)}
    if cached is not None:
        index, tokens = cached
        e = pool[index]
        scored[e.id] = scored_candidate(e, scores[index], {**_named(terms[index]), "cached_tokens": float(tokens)}, saturated.get(index))
    return assemble(endpoints, scored, rejected)


def _named(t: Terms) -> dict[str, float]:
    ttft = t[0] + t[1] + t[2] + t[3]
    return {
        "wait_s": t[0], "load_s": t[1], "prefill_s": t[2], "overhead_s": t[3], "decode_s": t[4], "first_token_s": t[5],
        "tier_penalty_s": t[6], "hold_s": t[7], "feedback": t[8], "retry": t[9], "ttft_s": ttft, "completion_s": ttft + t[10],
    }  # fmt: skip


def _power_of_two(pool: list[EndpointState], tiers: tuple[str, ...], rejected: dict[str, str], rng: random.Random) -> list[EndpointState]:
    """Keep two random replicas of each tier that has more than P2C_ABOVE of them."""
    pool_tiers = [e.tier for e in pool]
    crowded = [t for t in tiers if pool_tiers.count(t) > P2C_ABOVE]
    if not crowded:
        return pool
    kept = [e for e in pool if e.tier not in crowded]
    for tier in crowded:
        members = [e for e in pool if e.tier == tier]
        picked = rng.sample(members, 2)
        for e in members:
            if e not in picked:
                rejected[e.id] = NOT_SAMPLED
        kept.extend(picked)
    return kept

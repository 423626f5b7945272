"""`least_load`: the lowest outstanding work per slot times response time, across every capable
endpoint of the route: score = (in_flight + queued + fast failures + 1) / slots x TTFT, with the
server's own running and waiting counts and slots in place of the router's where it reports them.
Equal scores go to the tier earlier in the route. It ranks on bare numbers; the candidates and the
reason are built when first read (base.PolicyResult), as adaptive's are."""

from __future__ import annotations

from functools import partial

from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.base import (
    Candidates,
    PolicyResult,
    Screen,
    ScreenedPolicy,
    all_full,
    assemble,
    capacity,
    outstanding,
    pick_lowest,
    runner_up,
    scored_candidate,
    seconds,
    server_notes,
    ttft_estimate,
    with_notes,
)


class LeastLoadPolicy(ScreenedPolicy):
    name = "least_load"

    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        pool = s.pool
        loads: list[float] = []
        ttfts: list[float] = []
        scores: list[float] = []
        for e in pool:
            load = (outstanding(e) + 1) / capacity(e)
            ttft = ttft_estimate(e)
            loads.append(load)
            ttfts.append(ttft)
            scores.append(load * ttft)
        tiers = s.tiers
        chosen = pick_lowest(scores, inp.rng, [tiers.index(e.tier) for e in pool])
        wait = all_full(pool)
        candidates = partial(_candidates, inp.endpoints, s, scores, loads, ttfts)
        return PolicyResult(pool[chosen].id, candidates, partial(_reason, s, scores, loads, ttfts, chosen, wait), wait)


def _candidates(endpoints: tuple[EndpointState, ...], s: Screen, scores: list[float], loads: list[float], ttfts: list[float]) -> Candidates:
    scored = {e.id: scored_candidate(e, scores[i], {"load": loads[i], "ttft_s": ttfts[i]}) for i, e in enumerate(s.pool)}
    return assemble(endpoints, scored, s.rejected)


def _reason(s: Screen, scores: list[float], loads: list[float], ttfts: list[float], chosen: int, wait: bool) -> str:
    pool = s.pool
    winner = pool[chosen]
    reason = f"{winner.id} least load: {loads[chosen]:.2f} per slot x TTFT {seconds(ttfts[chosen])} = {scores[chosen]:.2f}"
    beaten = runner_up(scores, range(len(pool)), chosen)
    extra = [
        f"next {pool[beaten].id} {scores[beaten]:.2f}" if beaten is not None else "",
        server_notes(winner, pool[beaten] if beaten is not None else None),
        "every slot busy, waiting" if wait else "",
    ]
    return with_notes(reason, s, *extra)

"""`least_load`: the lowest outstanding work per slot times response time, across every capable
endpoint of the route: score = (in_flight + queued + fast failures + 1) / slots x TTFT, with the
server's own running and waiting counts and slots in place of the router's where it reports them.
Equal scores go to the tier earlier in the route."""

from __future__ import annotations

from zeta_console.router.candidates import DecisionInput
from zeta_console.router.policies.base import (
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
        scores = []
        scored = {}
        for e in s.pool:
            load = (outstanding(e) + 1) / capacity(e)
            ttft = ttft_estimate(e)
            score = load * ttft
            scores.append(score)
            scored[e.id] = scored_candidate(e, score, {"load": load, "ttft_s": ttft})
        ranks = [s.tiers.index(e.tier) for e in s.pool]
        winner = s.pool[pick_lowest(scores, inp.rng, ranks)]
        chosen = scored[winner.id]
        terms = chosen.terms
        reason = f"{chosen.endpoint} least load: {terms['load']:.2f} per slot x TTFT {seconds(terms['ttft_s'])} = {chosen.score:.2f}"
        beaten = runner_up(scored.values(), chosen.endpoint)
        wait = all_full(s.pool)
        extra = [
            f"next {beaten.endpoint} {beaten.score:.2f}" if beaten else "",
            server_notes(winner, next((e for e in s.pool if beaten and e.id == beaten.endpoint), None)),
            "every slot busy, waiting" if wait else "",
        ]
        return PolicyResult(chosen.endpoint, assemble(inp.endpoints, scored, s.rejected), with_notes(reason, s, *extra), wait)

"""`static`: the route table only. The first tier with an available endpoint takes the request,
whatever its load; replicas of that tier share it by outstanding work (the server's own count
where it reports one)."""

from __future__ import annotations

from zeta_console.router.candidates import DecisionInput
from zeta_console.router.policies.base import (
    LATER_IN_ROUTE,
    PolicyResult,
    Screen,
    ScreenedPolicy,
    all_full,
    assemble,
    outstanding,
    pick_lowest,
    scored_candidate,
    server_notes,
    unavailable,
    with_notes,
)


class StaticPolicy(ScreenedPolicy):
    name = "static"

    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        pool_tiers = {e.tier for e in s.pool}
        tier = next(t for t in s.tiers if t in pool_tiers)
        replicas = [e for e in s.pool if e.tier == tier]
        loads = [float(outstanding(e)) for e in replicas]
        chosen = replicas[pick_lowest(loads, inp.rng)]
        scored = {e.id: scored_candidate(e, load, {"outstanding": load}) for e, load in zip(replicas, loads, strict=True)}
        for e in s.pool:
            if e.tier != tier:
                s.rejected[e.id] = LATER_IN_ROUTE
        wait = all_full(replicas)
        reason = f"{chosen.id}: first available tier in route {' > '.join(s.tiers)}"
        skipped = s.tiers[: s.tiers.index(tier)]
        extra = [
            *(unavailable(t, inp.endpoints, s) for t in skipped),
            f"least loaded of {len(replicas)} replicas" if len(replicas) > 1 else "",
            server_notes(*replicas) if len(replicas) > 1 else "",
            f"all {tier} slots busy, waiting" if wait else "",
        ]
        return PolicyResult(chosen.id, assemble(inp.endpoints, scored, s.rejected), with_notes(reason, s, *extra), wait)

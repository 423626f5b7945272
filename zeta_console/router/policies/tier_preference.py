"""The operator's tier preference (`adaptive.tier_tolerance`): `adaptive`'s ranking, then the route's order kept on purpose.

`adaptive` scores by time, and a tier that is slower by design (a reasoner that thinks before it answers) loses to a
faster one whenever its caller waits for the whole answer, within capacity too. With a tolerance above 1 the operator
says how much longer the preferred tier may take: when the ranking's best is not on the route's most preferred tier
that has an endpoint not saturated, that tier's best endpoint takes the request if the time its caller waits for
there (completion for a whole answer; TTFT + the decode slower than reading for a reader of a stream) is at most
tolerance x the ranking's best's. Otherwise the ranking's choice stands. 1 (the default) never consults the rule.
Every consultation is one phrase of the decision's reason:
  kept on preferred tier reasoner: completion 7.4 s within 3x of coder@local's 2.1 s (adaptive.tier_tolerance)
  left preferred tier reasoner: completion 31.0 s beyond 3x of coder@local's 2.1 s (adaptive.tier_tolerance)
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from zeta_console.router.candidates import EndpointState
from zeta_console.router.policies.base import pick_lowest, seconds

SETTING = "adaptive.tier_tolerance"


class Preference:
    """What the tier preference decided; its phrase of the reason is built when first read."""

    __slots__ = ("best", "kept", "pool", "preferred", "tolerance", "waited", "what")

    def __init__(
        self, preferred: int, best: int, pool: Sequence[EndpointState], waited: Sequence[float], what: str, tolerance: float
    ) -> None:
        self.preferred = preferred  # pool index: the preferred tier's best endpoint
        self.best = best  # pool index: the ranking's best, on another tier
        self.kept = waited[preferred] <= tolerance * waited[best]  # the preferred tier takes the request
        self.pool = pool
        self.waited = waited
        self.what = what
        self.tolerance = tolerance

    @property
    def chosen(self) -> int:
        return self.preferred if self.kept else self.best

    @property
    def reason(self) -> str:
        verdict, within = ("kept on", "within") if self.kept else ("left", "beyond")
        best = self.best
        return (
            f"{verdict} preferred tier {self.pool[self.preferred].tier}: {self.what} {seconds(self.waited[self.preferred])}"
            f" {within} {self.tolerance:g}x of {self.pool[best].id}'s {seconds(self.waited[best])} ({SETTING})"
        )


def prefer_tier(
    tolerance: float,
    tiers: Sequence[str],
    pool: Sequence[EndpointState],
    unsaturated: Sequence[int],
    best: int,
    scores: Sequence[float],
    waited: Sequence[float],
    what: str,
    rng: random.Random,
) -> Preference | None:
    """Whether the route's most preferred tier with an unsaturated endpoint takes the request from the ranking's
    `best` (pool indices; `waited`: each endpoint's predicted time its caller waits for, named `what`), for a
    tolerance above 1. None when the rule has nothing to decide: the best already on that tier, or no such tier."""
    tier = next((t for t in tiers if any(pool[i].tier == t for i in unsaturated)), None)
    if tier is None or pool[best].tier == tier:
        return None
    members = [i for i in unsaturated if pool[i].tier == tier]
    preferred = members[pick_lowest([scores[i] for i in members], rng)]
    return Preference(preferred, best, pool, waited, what, tolerance)

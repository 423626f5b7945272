"""`adaptive:tiered`: adaptive with the operator's tier preference on (`adaptive.tier_tolerance` 6).

With the coder and the reasoner both idle (requests ~17 s apart), a program waiting for the whole answer to a
complex-reasoning question gets the coder from time alone (the reasoner's answer carries its thinking), and the
reasoner, the route's preferred tier, once the operator tolerates its longer answer. A tiny, time-scaled run.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmark.replay import replay
from tests.benchmark.test_streamed_callers import IDLE_PAIR, on_reasoner
from zeta_console.benchmark.contenders import known_contenders


def test_the_tiered_contender_keeps_complex_reasoning_on_the_reasoner_within_capacity(tmp_path: Path) -> None:
    assert "adaptive:tiered" in known_contenders()
    runs = replay(tmp_path, IDLE_PAIR, ("adaptive", "adaptive:tiered"), min_requests=5)
    timed, tiered = runs["adaptive"], runs["adaptive:tiered"]
    assert tiered.contender == "adaptive:tiered"
    routed = f"tiered {[r.tier for r in tiered.results]}, time alone {[r.tier for r in timed.results]}"
    # Of ~8 requests, the first two measure each tier, and Poisson gaps find the reasoner still answering 1-2 times
    # (then its wait takes it past 6x): 6 on the reasoner against 1 here, 3 more asked for.
    assert on_reasoner(tiered) >= on_reasoner(timed) + 0.375, routed

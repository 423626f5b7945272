"""`adaptive.tier_tolerance`: the route's preferred tier keeps a request while it takes at most tolerance x the best's time.

The reasoner here answers complex reasoning in 24.5 s (600 tokens at 25 tokens/s), the coder in 8.0 s (300 at 40/s):
3.06x. Time alone sends a caller waiting for the whole answer to the coder; a tolerance of 4 keeps it on the reasoner,
one of 2 does not, and the reason says which, with both figures.
"""

from __future__ import annotations

from tests.policy_fixtures import decision_input, endpoint, fleet
from zeta_console.router.api import Ranking
from zeta_console.router.policies import PolicyResult, make_policy
from zeta_console.settings import Adaptive, Settings, Task

OUTPUT = {"reasoner": 600.0, "coder": 300.0}
SLOW_REASONER = fleet(reasoner={"decode_tps": 25.0}, coder={"decode_tps": 40.0})


def decide(tolerance: float, endpoints=SLOW_REASONER, **kwargs) -> PolicyResult:  # type: ignore[no-untyped-def]
    settings = Settings(adaptive=Adaptive(explore_rate=0.0, tier_tolerance=tolerance))
    return make_policy("adaptive", settings).decide(decision_input(endpoints, Task.COMPLEX_REASONING, expected_output=OUTPUT, **kwargs))


def terms(result: PolicyResult, endpoint_id: str) -> dict[str, float]:
    return dict(next(c for c in result.candidates if c.endpoint == endpoint_id).terms)


def test_the_default_is_time_alone_and_says_nothing_of_a_preference() -> None:
    assert Settings().adaptive.tier_tolerance == 1.0
    result = decide(1.0)
    assert result.chosen == "coder@local", result.reason
    assert "preferred tier" not in result.reason


def test_within_the_tolerance_the_preferred_tier_keeps_the_request() -> None:
    result = decide(4.0)
    assert result.chosen == "reasoner@local", result.reason
    kept = "kept on preferred tier reasoner: completion 24.50 s within 4x of coder@local's 8.00 s (adaptive.tier_tolerance)"
    assert kept in result.reason
    assert "beat" not in result.reason  # the coder scored better: the phrase above names it instead
    assert terms(result, "reasoner@local")["completion_s"] == 24.5  # the candidates show the figures compared
    assert terms(result, "coder@local")["completion_s"] == 8.0


def test_beyond_the_tolerance_the_request_leaves_the_preferred_tier() -> None:
    result = decide(2.0)
    assert result.chosen == "coder@local", result.reason
    assert "left preferred tier reasoner: completion 24.50 s beyond 2x of coder@local's 8.00 s (adaptive.tier_tolerance)" in result.reason


def test_a_busy_preferred_tier_is_left_when_its_wait_takes_it_past_the_tolerance() -> None:
    busy = fleet(reasoner={"decode_tps": 25.0, "in_flight": 1, "queued": 2}, coder={"decode_tps": 40.0})
    result = decide(4.0, busy)
    assert result.chosen == "coder@local", result.reason
    assert "left preferred tier reasoner" in result.reason and "beyond 4x" in result.reason


def test_a_saturated_preferred_tier_is_not_consulted() -> None:
    saturated = fleet(reasoner={"decode_tps": 25.0, "in_flight": 1, "queued": 5}, coder={"decode_tps": 40.0})
    result = decide(100.0, saturated)
    assert result.chosen == "coder@local", result.reason
    assert "preferred tier" not in result.reason
    assert "reasoner@local saturated: queue 5 > 4" in result.reason


def test_the_preferred_tiers_best_replica_is_the_one_kept() -> None:
    endpoints = (
        endpoint("coder", "h0", decode_tps=40.0),
        endpoint("reasoner", "h0", decode_tps=25.0, in_flight=1),
        endpoint("reasoner", "h1", decode_tps=25.0),
    )
    result = decide(4.0, endpoints)
    assert result.chosen == "reasoner@h1", result.reason
    assert "kept on preferred tier reasoner: completion 24.50 s" in result.reason


def test_a_reader_of_a_stream_is_compared_by_what_it_waits_for() -> None:
    # A reader waits for the first token (and decode slower than reading, none here): the busy reasoner's 12.5 s of
    # waiting for its slot against the idle coder's 0.5 s first token.
    busy = fleet(reasoner={"decode_tps": 25.0, "in_flight": 1}, coder={"decode_tps": 40.0})
    left = decide(4.0, busy, ranking=Ranking.READER)
    assert left.chosen == "coder@local", left.reason
    assert "left preferred tier reasoner: TTFT + decode slower than reading" in left.reason
    assert "of coder@local's 0.50 s" in left.reason
    kept = decide(100.0, busy, ranking=Ranking.READER)
    assert kept.chosen == "reasoner@local", kept.reason
    assert "kept on preferred tier reasoner: TTFT + decode slower than reading" in kept.reason


def test_a_pin_leaves_no_other_tier_to_prefer() -> None:
    result = decide(100.0, pinned_tier="coder", route=("coder",))
    assert result.chosen == "coder@local"
    assert "preferred tier" not in result.reason

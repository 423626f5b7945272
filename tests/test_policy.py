"""Table-driven tests of the routing policies over synthetic endpoint states."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.policy_fixtures import decision_input, endpoint, fleet
from zeta_console.router.api import EndpointStatus
from zeta_console.router.policies import POLICIES, PolicyResult, make_policy, register_policy
from zeta_console.router.policies.base import predicted_wait_s
from zeta_console.router.policies.prediction import estimate
from zeta_console.settings import Adaptive, Settings, Task, Thresholds

SETTINGS = Settings()
NO_EXPLORE = Settings(adaptive=Adaptive(explore_rate=0.0))
ALL_POLICIES = list(POLICIES)


def decide(policy: str, *args, settings: Settings = NO_EXPLORE, **kwargs) -> PolicyResult:  # type: ignore[no-untyped-def]
    return make_policy(policy, settings).decide(decision_input(*args, **kwargs))


def excluded(result: PolicyResult) -> dict[str, str | None]:
    return {c.endpoint: c.excluded for c in result.candidates}


# --- filters every policy shares ---------------------------------------------------------------

SHARED_CASES = [
    # (case, fleet, task, kwargs, expected chosen)
    ("embed goes to the embedder only", fleet(), Task.EMBEDDING, {}, "embedder@local"),
    ("chat never to the embedder, even when pinned there", fleet(), Task.SIMPLE, {"pinned_tier": "embedder"}, "coder@local"),
    ("route order: simple prefers coder", fleet(), Task.SIMPLE, {}, "coder@local"),
    ("route order: complex prefers reasoner", fleet(), Task.COMPLEX_REASONING, {}, "reasoner@local"),
    ("drained preferred tier skipped", fleet(reasoner={"drained": True}), Task.COMPLEX_REASONING, {}, "coder@local"),
    ("ejected preferred tier skipped", fleet(reasoner={"status": EndpointStatus.EJECTED}), Task.COMPLEX_REASONING, {}, "coder@local"),
    ("down preferred tier skipped", fleet(reasoner={"status": EndpointStatus.DOWN}), Task.COMPLEX_REASONING, {}, "coder@local"),
    ("already tried skipped", fleet(), Task.COMPLEX_REASONING, {"excluded": frozenset({"reasoner@local"})}, "coder@local"),
    ("pin for the task moves it", fleet(), Task.COMPLEX_REASONING, {"pinned_tier": "coder"}, "coder@local"),
    ("pin wins over load", fleet(coder={"in_flight": 1, "queued": 3}), Task.SIMPLE, {"pinned_tier": "coder"}, "coder@local"),
    ("pin to an incapable tier ignored for embeds", fleet(), Task.EMBEDDING, {"pinned_tier": "reasoner"}, "embedder@local"),
    (
        "last capable endpoint ejected: still tried",
        fleet(embedder={"status": EndpointStatus.EJECTED}),
        Task.EMBEDDING,
        {},
        "embedder@local",
    ),
    ("last capable endpoint down: still tried", fleet(embedder={"status": EndpointStatus.DOWN}), Task.EMBEDDING, {}, "embedder@local"),
    (
        "all chat tiers broken: ejected before down",
        fleet(reasoner={"status": EndpointStatus.DOWN}, coder={"status": EndpointStatus.EJECTED}),
        Task.COMPLEX_REASONING,
        {},
        "coder@local",
    ),
]


@pytest.mark.parametrize("policy", ALL_POLICIES)
@pytest.mark.parametrize(("case", "endpoints", "task", "kwargs", "expected"), SHARED_CASES, ids=[c[0] for c in SHARED_CASES])
def test_shared_filters(policy: str, case: str, endpoints, task: Task, kwargs, expected: str) -> None:  # type: ignore[no-untyped-def]
    result = decide(policy, endpoints, task, **kwargs)
    assert result.chosen == expected, result.reason
    assert result.reason


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_every_endpoint_appears_with_a_score_or_an_exclusion(policy: str) -> None:
    endpoints = fleet(replicas=2, reasoner={"drained": True})
    result = decide(policy, endpoints, Task.COMPLEX_REASONING)
    assert [c.endpoint for c in result.candidates] == [e.id for e in endpoints]
    for c in result.candidates:
        assert c.excluded is not None or (c.score != float("inf") and c.terms), c
    reasons = excluded(result)
    assert reasons["embedder@h0"] == "incapable"
    assert reasons["reasoner@h1"] == "drained"


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_nothing_capable_is_a_rejection_naming_each_blocked_endpoint(policy: str) -> None:
    result = decide(policy, fleet(embedder={"drained": True}), Task.EMBEDDING)
    assert result.chosen is None
    assert "embedder@local drained" in result.reason
    assert not result.wait


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_ignored_pin_and_last_resort_are_said(policy: str) -> None:
    pinned = decide(policy, fleet(), Task.EMBEDDING, pinned_tier="reasoner")
    assert "pin to reasoner ignored" in pinned.reason
    last = decide(policy, fleet(embedder={"status": EndpointStatus.EJECTED}), Task.EMBEDDING)
    assert "only ejected endpoints" in last.reason


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_pinned_tier_replicas_still_chosen_by_load(policy: str) -> None:
    endpoints = fleet(replicas=2, coder={"in_flight": 1})
    endpoints = tuple(e if e.id != "coder@h1" else endpoint("coder", "h1") for e in endpoints)
    result = decide(policy, endpoints, Task.COMPLEX_REASONING, pinned_tier="coder")
    assert result.chosen == "coder@h1"
    assert excluded(result)["reasoner@h0"] == "not in route"


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_wait_when_every_capable_endpoint_is_full(policy: str) -> None:
    result = decide(policy, fleet(coder={"in_flight": 1}, reasoner={"in_flight": 1}), Task.SIMPLE)
    assert result.wait
    assert result.chosen is not None


@pytest.mark.parametrize("policy", [p for p in ALL_POLICIES if p != "static"])
def test_load_aware_policies_do_not_wait_while_a_capable_slot_is_free(policy: str) -> None:
    assert not decide(policy, fleet(reasoner={"in_flight": 1}), Task.COMPLEX_REASONING).wait


# --- registry ----------------------------------------------------------------------------------


def test_unknown_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match='unknown policy "fastest" \\(expected one of: static, threshold, least_load, adaptive\\)'):
        make_policy("fastest", SETTINGS)


def test_registered_policy_is_made_by_name() -> None:
    class Always:
        name = "always_coder"

        def __init__(self, settings: Settings) -> None: ...

        def decide(self, inp):  # type: ignore[no-untyped-def]
            return PolicyResult("coder@local", (), "always")

    register_policy("always_coder", Always)
    try:
        assert make_policy("always_coder", SETTINGS).decide(decision_input(fleet())).chosen == "coder@local"
    finally:
        del POLICIES["always_coder"]


# --- static ------------------------------------------------------------------------------------


def test_static_says_why_it_skipped_a_tier() -> None:
    result = decide("static", fleet(reasoner={"status": EndpointStatus.EJECTED}), Task.COMPLEX_REASONING)
    assert result.reason == "coder@local: first available tier in route reasoner > coder; reasoner unavailable (reasoner@local ejected)"


def test_static_ignores_load_and_waits_for_its_tier() -> None:
    result = decide("static", fleet(reasoner={"in_flight": 1, "queued": 6}), Task.COMPLEX_REASONING)
    assert (result.chosen, result.wait) == ("reasoner@local", True)
    assert excluded(result)["coder@local"] == "later in route"


def test_static_spreads_over_replicas_by_outstanding_work() -> None:
    endpoints = (endpoint("coder", "h0", in_flight=1, queued=2), endpoint("coder", "h1", in_flight=1), endpoint("reasoner"))
    assert decide("static", endpoints, Task.CODE).chosen == "coder@h1"


def test_static_ties_are_broken_at_random() -> None:
    endpoints = (endpoint("coder", "h0"), endpoint("coder", "h1"))
    chosen = {decide("static", endpoints, Task.CODE, seed=seed).chosen for seed in range(20)}
    assert chosen == {"coder@h0", "coder@h1"}


def test_static_counts_fast_failures_as_load() -> None:
    endpoints = (endpoint("coder", "h0", recent_fast_failures=3), endpoint("coder", "h1", in_flight=1, slots=4))
    assert decide("static", endpoints, Task.CODE).chosen == "coder@h1"


# --- adaptive ----------------------------------------------------------------------------------

ADAPTIVE_CASES = [
    # (case, endpoints, task, expected chosen)
    (
        "overloaded reasoner: complex goes to the idle coder",
        fleet(reasoner={"in_flight": 1, "queued": 6, "ttft_ewma_s": 2.0, "thresholds": Thresholds(queue=100)}),
        Task.COMPLEX_REASONING,
        "coder@local",
    ),
    (
        "idle reasoner keeps complex work though it is slower",  # 0.3 s of TTFT x (1 + first_token_weight) < the tier penalty
        fleet(reasoner={"ttft_ewma_s": 0.6}, coder={"ttft_ewma_s": 0.3}),
        Task.COMPLEX_REASONING,
        "reasoner@local",
    ),
    (
        "cold idle beats warm busy",
        (endpoint("coder", "h0", in_flight=1, queued=2), endpoint("coder", "h1", resident=False, load_s=4.0)),
        Task.CODE,
        "coder@h1",
    ),
    ("warm idle beats cold idle", (endpoint("coder", "h0", resident=False, load_s=4.0), endpoint("coder", "h1")), Task.CODE, "coder@h1"),
    (
        "the faster replica wins",
        (endpoint("coder", "h0", prefill_s_per_token=0.004), endpoint("coder", "h1", prefill_s_per_token=0.001)),
        Task.CODE,
        "coder@h1",
    ),
    (
        "503 fast failures penalised",
        (endpoint("coder", "h0", recent_fast_failures=2), endpoint("coder", "h1", ttft_ewma_s=0.8)),
        Task.CODE,
        "coder@h1",
    ),
    ("errors penalised", (endpoint("coder", "h0", error_rate=0.6), endpoint("coder", "h1", ttft_ewma_s=0.8)), Task.CODE, "coder@h1"),
    (
        "saturated preferred tier excluded",
        fleet(reasoner={"in_flight": 1, "queued": 5}, coder={"in_flight": 1, "queued": 4}),
        Task.COMPLEX_REASONING,
        "coder@local",
    ),
    ("stale telemetry counts as saturated", fleet(reasoner={"last_sample_age_s": 120.0}), Task.COMPLEX_REASONING, "coder@local"),
    (
        "all saturated: least bad still chosen",
        fleet(reasoner={"in_flight": 1, "queued": 9}, coder={"in_flight": 1, "queued": 5}),
        Task.COMPLEX_REASONING,
        "coder@local",
    ),
    (
        "embeddings ranked by completion",
        (endpoint("embedder", "h0", latency_ewma_s=0.4), endpoint("embedder", "h1", latency_ewma_s=0.1, ttft_ewma_s=9.0)),
        Task.EMBEDDING,
        "embedder@h1",
    ),
    (
        "unknown endpoint seeded conservatively",
        (endpoint("coder", "h0", ttft_ewma_s=None), endpoint("coder", "h1", ttft_ewma_s=1.0)),
        Task.CODE,
        "coder@h1",
    ),
]


@pytest.mark.parametrize(("case", "endpoints", "task", "expected"), ADAPTIVE_CASES, ids=[c[0] for c in ADAPTIVE_CASES])
def test_adaptive(case: str, endpoints, task: Task, expected: str) -> None:  # type: ignore[no-untyped-def]
    result = decide("adaptive", endpoints, task)
    assert result.chosen == expected, result.reason


def test_adaptive_reason_names_the_saturation_and_the_deciding_term() -> None:
    result = decide("adaptive", fleet(reasoner={"in_flight": 1, "queued": 6, "ttft_ewma_s": 2.0}), Task.COMPLEX_REASONING)
    assert result.reason.startswith("coder@local predicted TTFT")
    assert "reasoner@local saturated: queue 6 > 4" in result.reason
    assert excluded(result)["reasoner@local"] == "saturated: queue 6 > 4"
    coder = next(c for c in result.candidates if c.endpoint == "coder@local")
    assert set(coder.terms) == {
        "wait_s", "load_s", "prefill_s", "overhead_s", "decode_s", "first_token_s",
        "tier_penalty_s", "hold_s", "feedback", "retry", "ttft_s", "completion_s",
    }  # fmt: skip

    cold = decide(
        "adaptive", (endpoint("coder", "h0", in_flight=1, queued=2), endpoint("coder", "h1", resident=False, load_s=4.0)), Task.CODE
    )
    assert "beat coder@h0" in cold.reason and "on wait_s" in cold.reason


def test_adaptive_feedback_weight_moves_work() -> None:
    endpoints = fleet(coder={"ttft_ewma_s": 0.5}, reasoner={"ttft_ewma_s": 0.5})
    assert decide("adaptive", endpoints, Task.SIMPLE).chosen == "coder@local"
    slow_coder = {(Task.SIMPLE, "coder"): 4.0}
    assert decide("adaptive", endpoints, Task.SIMPLE, weights=slow_coder).chosen == "reasoner@local"


def test_adaptive_explores_at_the_configured_rate() -> None:
    settings = Settings(adaptive=Adaptive(explore_rate=0.1))
    policy = make_policy("adaptive", settings)
    endpoints = fleet(replicas=2)
    runs = 4000
    explored = 0
    for seed in range(runs):
        result = policy.decide(decision_input(endpoints, Task.COMPLEX_REASONING, seed=seed))
        if "explore" in result.reason:
            explored += 1
            assert result.chosen in {"reasoner@h0", "reasoner@h1", "coder@h0", "coder@h1"}
    assert 0.08 * runs < explored < 0.12 * runs


def test_adaptive_exploration_never_leaves_a_pin() -> None:
    policy = make_policy("adaptive", Settings(adaptive=Adaptive(explore_rate=1.0)))
    for seed in range(50):
        result = policy.decide(decision_input(fleet(replicas=2), Task.COMPLEX_REASONING, pinned_tier="coder", seed=seed))
        assert result.chosen in {"coder@h0", "coder@h1"}


def test_adaptive_never_explores_a_cold_endpoint() -> None:
    # A random pick onto a model that is not loaded makes its caller wait for the load (replicas: 5.3 s of TTFT).
    policy = make_policy("adaptive", Settings(adaptive=Adaptive(explore_rate=1.0)))
    endpoints = fleet(replicas=2, reasoner={"resident": True})
    endpoints = tuple(replace(e, resident=False) if e.id == "reasoner@h1" else e for e in endpoints)
    chosen = {policy.decide(decision_input(endpoints, Task.COMPLEX_REASONING, seed=seed)).chosen for seed in range(200)}
    assert chosen == {"reasoner@h0", "coder@h0", "coder@h1"}


def test_adaptive_never_explores_onto_a_busy_endpoint() -> None:
    # The request would wait for that endpoint alone while the best one could start it now (the router waits for the
    # endpoint a decision chose): in overload, a random pick onto the busy reasoner waited 5-10 s for its answer to end.
    policy = make_policy("adaptive", Settings(adaptive=Adaptive(explore_rate=1.0)))
    endpoints = fleet(replicas=2, reasoner={"in_flight": 1})
    chosen = {policy.decide(decision_input(endpoints, Task.COMPLEX_REASONING, seed=seed)).chosen for seed in range(200)}
    assert chosen == {"coder@h0", "coder@h1"}


def test_adaptive_samples_two_replicas_when_a_tier_has_many() -> None:
    endpoints = tuple(endpoint("coder", f"h{i}") for i in range(6))
    result = decide("adaptive", endpoints, Task.CODE, route=("coder",))
    reasons = [c.excluded for c in result.candidates]
    assert reasons.count("not sampled (power of two choices)") == 4
    assert reasons.count(None) == 2


# --- threshold ---------------------------------------------------------------------------------

STRICT = Thresholds(ttft_s=1.0, latency_s=30.0, queue=4, error_rate=0.25)

THRESHOLD_CASES = [
    # (case, reasoner overrides, expected chosen, expected reason)
    (
        "within thresholds: preferred tier though busier",
        {"in_flight": 1, "queued": 2},
        "reasoner@local",
        "reasoner@local within thresholds",
    ),
    ("queue over", {"in_flight": 1, "queued": 6}, "coder@local", "reasoner@local queue 6 > 4; fell back to coder@local"),
    ("TTFT p95 over", {"ttft_p95_s": 2.4}, "coder@local", "reasoner@local TTFT p95 2.40 s > 1.00 s; fell back to coder@local"),
    ("latency p95 over", {"latency_p95_s": 45.0}, "coder@local", "reasoner@local latency p95 45.00 s > 30.00 s; fell back to coder@local"),
    ("error rate over", {"error_rate": 0.5}, "coder@local", "reasoner@local error rate 50% > 25%; fell back to coder@local"),
    (
        "ejected preferred tier",
        {"status": EndpointStatus.EJECTED},
        "coder@local",
        "reasoner unavailable (reasoner@local ejected); fell back to coder@local",
    ),
    ("per-model override", {"ttft_p95_s": 2.4, "thresholds": Thresholds(ttft_s=3.0)}, "reasoner@local", "reasoner@local within thresholds"),
]


@pytest.mark.parametrize(("case", "reasoner", "expected", "reason"), THRESHOLD_CASES, ids=[c[0] for c in THRESHOLD_CASES])
def test_threshold(case: str, reasoner: dict, expected: str, reason: str) -> None:  # type: ignore[type-arg]
    result = decide("threshold", fleet(reasoner={"thresholds": STRICT, **reasoner}, coder={"thresholds": STRICT}), Task.COMPLEX_REASONING)
    assert result.chosen == expected
    assert result.reason == reason


def test_threshold_all_over_takes_the_least_over() -> None:
    endpoints = fleet(reasoner={"in_flight": 1, "queued": 9}, coder={"in_flight": 1, "queued": 5})
    result = decide("threshold", endpoints, Task.COMPLEX_REASONING)
    assert result.chosen == "coder@local"
    assert result.reason == "every endpoint over a threshold; coder@local is the least over (queue 5 > 4); every slot busy, waiting"


def test_threshold_candidates_say_why_they_lost() -> None:
    fell_back = excluded(decide("threshold", fleet(reasoner={"in_flight": 1, "queued": 6}), Task.COMPLEX_REASONING))
    assert (fell_back["reasoner@local"], fell_back["coder@local"]) == ("over threshold: queue", None)
    preferred = excluded(decide("threshold", fleet(), Task.COMPLEX_REASONING))
    assert (preferred["reasoner@local"], preferred["coder@local"]) == (None, "later in route")


# --- least_load --------------------------------------------------------------------------------

LEAST_LOAD_CASES = [
    # (case, endpoints, expected chosen)
    ("least loaded across tiers", fleet(reasoner={"in_flight": 1}), "coder@local"),
    ("load is per slot", fleet(reasoner={"in_flight": 2, "slots": 4}, coder={"in_flight": 1}), "reasoner@local"),
    ("response time counts", fleet(coder={"ttft_ewma_s": 2.0}, reasoner={"ttft_ewma_s": 0.5}), "reasoner@local"),
    ("fast failures count as load", fleet(reasoner={"recent_fast_failures": 2}, coder={"ttft_ewma_s": 1.0}), "coder@local"),
    ("unknown TTFT seeded with the threshold", fleet(reasoner={"ttft_ewma_s": None}, coder={"ttft_ewma_s": 1.9}), "coder@local"),
]


@pytest.mark.parametrize(("case", "endpoints", "expected"), LEAST_LOAD_CASES, ids=[c[0] for c in LEAST_LOAD_CASES])
def test_least_load(case: str, endpoints, expected: str) -> None:  # type: ignore[no-untyped-def]
    result = decide("least_load", endpoints, Task.COMPLEX_REASONING)
    assert result.chosen == expected, result.reason
    assert result.reason.startswith(f"{expected} least load")


def test_fast_candidate_construction_matches_the_dataclass() -> None:
    from dataclasses import FrozenInstanceError

    from zeta_console.router.api import CandidateScore
    from zeta_console.router.policies.base import scored_candidate

    e = endpoint("coder")
    fast = scored_candidate(e, 1.5, {"wait_s": 1.5}, "saturated")
    assert fast == CandidateScore("coder@local", "coder", "coder", "local", 1.5, {"wait_s": 1.5}, "saturated")
    with pytest.raises(FrozenInstanceError):
        fast.score = 0.0  # type: ignore[misc]


def test_candidates_given_as_a_function_are_built_once_on_first_read() -> None:
    builds: list[int] = []

    def build() -> tuple[()]:
        builds.append(1)
        return ()

    result = PolicyResult("coder@local", build, "lazy")
    assert builds == []
    assert result.candidates == () and result.candidates == ()
    assert builds == [1]


def test_a_reason_given_as_a_function_is_built_once_on_first_read() -> None:
    builds: list[int] = []

    def build() -> str:
        builds.append(1)
        return "lazy"

    result = PolicyResult("coder@local", (), build)
    assert builds == []
    assert result.reason == "lazy" and result.reason == "lazy"
    assert builds == [1]


def test_adaptive_builds_its_reason_when_it_is_read_from_what_it_decided_then() -> None:
    endpoints = fleet(reasoner={"in_flight": 1, "queued": 6})
    inp = decision_input(endpoints, Task.COMPLEX_REASONING)
    result = make_policy("adaptive", Settings()).decide(inp)
    assert not isinstance(result._reason, str)  # not built while deciding
    again = make_policy("adaptive", Settings()).decide(decision_input(endpoints, Task.COMPLEX_REASONING))
    again.candidates  # noqa: B018 - reading the candidates first changes nothing
    assert result.reason == again.reason
    assert result.reason.startswith("coder@local predicted TTFT") and "reasoner@local saturated: queue 6 > 4" in result.reason


def test_adaptive_says_why_an_endpoint_is_saturated_only_when_its_reason_or_candidates_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from zeta_console.router.policies import adaptive

    calls: list[str] = []
    real = adaptive.saturation
    monkeypatch.setattr(adaptive, "saturation", lambda e: calls.append(e.id) or real(e))
    endpoints = fleet(reasoner={"in_flight": 1, "queued": 6})
    result = make_policy("adaptive", Settings()).decide(decision_input(endpoints, Task.COMPLEX_REASONING))
    assert result.chosen == "coder@local" and calls == []  # gated, and nothing said about it yet
    assert "reasoner@local saturated: queue 6 > 4" in result.reason
    assert {c.endpoint: c.excluded for c in result.candidates}["reasoner@local"] == "saturated: queue 6 > 4"
    assert calls == ["reasoner@local"]  # once for both


def test_a_session_held_by_a_saturated_endpoint_moves_and_says_why() -> None:
    from zeta_console.router.candidates import SessionHint

    endpoints = fleet(replicas=2, coder={"in_flight": 1, "queued": 6})  # both coders saturated: the reasoner is open
    held = replace(decision_input(endpoints, Task.CODE), session=SessionHint("s", "coder@h0", 900, 0.5))
    result = make_policy("adaptive", NO_EXPLORE).decide(held)
    assert result.chosen in ("reasoner@h0", "reasoner@h1")
    assert "affinity moved: coder@h0 holds ~900 tokens but is saturated: queue 6 > 4" in result.reason


def test_least_load_builds_its_candidates_and_reason_when_they_are_read() -> None:
    endpoints = fleet(coder={"in_flight": 1, "slots": 2}, reasoner={"in_flight": 1, "queued": 2})
    result = make_policy("least_load", Settings()).decide(decision_input(endpoints, Task.CODE))
    assert not isinstance(result._candidates, tuple) and not isinstance(result._reason, str)  # not built while deciding
    assert result.chosen == "coder@local"
    assert result.reason == "coder@local least load: 1.00 per slot x TTFT 0.50 s = 0.50; next reasoner@local 2.00"
    scores = {c.endpoint: (c.score, dict(c.terms), c.excluded) for c in result.candidates}
    assert scores["coder@local"] == (0.5, {"load": 1.0, "ttft_s": 0.5}, None)
    assert scores["reasoner@local"] == (2.0, {"load": 4.0, "ttft_s": 0.5}, None)
    assert scores["embedder@local"][2] == "incapable"


@pytest.mark.parametrize("policy", ["adaptive", "threshold", "least_load"])
def test_lazily_built_candidates_keep_their_terms_in_order(policy: str) -> None:
    result = decide(policy, fleet(reasoner={"in_flight": 1, "queued": 6}), Task.COMPLEX_REASONING)
    names = {
        "adaptive": [
            "wait_s", "load_s", "prefill_s", "overhead_s", "decode_s", "first_token_s",
            "tier_penalty_s", "hold_s", "feedback", "retry", "ttft_s", "completion_s",
        ],  # fmt: skip
        "threshold": ["ttft_p95", "latency_p95", "queue", "error_rate"],
        "least_load": ["load", "ttft_s"],
    }
    for c in result.candidates:
        assert list(c.terms) == ([] if c.score == float("inf") else names[policy]), c


def test_predicted_wait_is_adaptives_wait_term_and_pools_the_endpoints_a_request_may_take() -> None:
    busy = endpoint("coder", "a", slots=2, in_flight=2, queued=3, latency_ewma_s=4.0)
    other = endpoint("coder", "b", slots=1, in_flight=1, queued=0, latency_ewma_s=2.0)
    assert predicted_wait_s((busy,)) == 4 * 4.0 / 2  # 4 ahead beyond 2 slots, each slot freeing every 4 s
    assert estimate(busy, 100, False, 0.0, 0.0)[0] == predicted_wait_s((busy,))  # adaptive's inlined copy agrees
    # Taking whichever frees first: 4 ahead beyond 3 slots, served at 2/4 + 1/2 = 1 request/s.
    assert predicted_wait_s((busy, other)) == 4.0
    assert predicted_wait_s((endpoint("coder", slots=4, in_flight=1),)) == 0.0  # a free slot: no wait

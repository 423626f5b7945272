"""The bench-only policies on synthetic fleets: round robin takes turns, the oracle follows truth."""

from __future__ import annotations

import random

from zeta_console.benchmark.baselines import OraclePolicy, RoundRobinPolicy
from zeta_console.router.api import Classification, EndpointStatus
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.settings import Settings, Task, Thresholds

SETTINGS = Settings()


def endpoint(tier: str, host: str = "local", capabilities: frozenset[str] = frozenset({"completion"})) -> EndpointState:
    model = SETTINGS.model(tier).model
    return EndpointState(f"{tier}@{host}", tier, model, host, capabilities, 1, 0, 0, EndpointStatus.UP, False, Thresholds())


FLEET = (endpoint("coder"), endpoint("embedder", capabilities=frozenset({"embedding"})), endpoint("reasoner"), endpoint("reasoner", "b"))


def reasoning_input(excluded: frozenset[str] = frozenset()) -> DecisionInput:
    return DecisionInput(
        request_id="r",
        classification=Classification(Task.COMPLEX_REASONING, 1.0, "explicit", "explicit"),
        route=("reasoner", "coder"),
        pinned_tier=None,
        endpoints=FLEET,
        prompt_tokens=100,
        needs=frozenset({"completion"}),
        excluded=excluded,
        rng=random.Random(0),
    )


def test_round_robin_cycles_through_every_capable_endpoint_of_the_route() -> None:
    policy = RoundRobinPolicy(SETTINGS)
    chosen = [policy.decide(reasoning_input()).chosen for _ in range(6)]
    assert chosen == ["coder@local", "reasoner@local", "reasoner@b"] * 2


class FixedTruth:
    def __init__(self, ttft: dict[tuple[str, str], float | None]) -> None:
        self.ttft = ttft

    def predicted_ttft_s(self, host: str, model: str, prompt_tokens: int) -> float | None:
        return self.ttft[(host, model)]


def test_oracle_picks_least_true_ttft_and_skips_what_is_down() -> None:
    coder, reasoner = SETTINGS.model("coder").model, SETTINGS.model("reasoner").model
    truth = FixedTruth({("local", coder): 3.0, ("local", reasoner): 9.0, ("b", reasoner): None})
    result = OraclePolicy(SETTINGS, truth).decide(reasoning_input())
    assert result.chosen == "coder@local"
    assert {c.endpoint: c.excluded for c in result.candidates}["reasoner@b"] == "down (emulator truth)"
    truth.ttft[("local", coder)] = 12.0
    assert OraclePolicy(SETTINGS, truth).decide(reasoning_input()).chosen == "reasoner@local"

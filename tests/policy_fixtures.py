"""Synthetic fleets and decision inputs for the policy tests and the decision-cost benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from zeta_console.router.api import Classification, EndpointStatus, Ranking
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies import POLICIES, register_policy
from zeta_console.router.policies.static import StaticPolicy
from zeta_console.settings import DEFAULT_ROUTES, Task, Thresholds

CHAT = frozenset({"completion"})
EMBED = frozenset({"embedding"})
CAPABILITIES = {"coder": frozenset({"completion", "tools"}), "embedder": EMBED, "reasoner": frozenset({"completion", "thinking"})}


def endpoint(tier: str, host: str = "local", **overrides: Any) -> EndpointState:
    """An idle, healthy, warm endpoint with one slot; override any field."""
    fields: dict[str, Any] = {
        "id": f"{tier}@{host}",
        "tier": tier,
        "model": tier,
        "host": host,
        "capabilities": CAPABILITIES.get(tier, CHAT),
        "slots": 1,
        "in_flight": 0,
        "queued": 0,
        "status": EndpointStatus.UP,
        "drained": False,
        "thresholds": Thresholds(),
        "ttft_ewma_s": 0.5,
        "latency_ewma_s": 5.0,
        "resident": True,
    }
    fields.update(overrides)
    return EndpointState(**fields)


def fleet(replicas: int = 1, **per_tier: Mapping[str, Any]) -> tuple[EndpointState, ...]:
    """coder, embedder, reasoner on hosts h0..h{replicas-1} (or "local" for one replica)."""
    hosts = ["local"] if replicas == 1 else [f"h{i}" for i in range(replicas)]
    return tuple(endpoint(tier, host, **per_tier.get(tier, {})) for tier in ("coder", "embedder", "reasoner") for host in hosts)


def decision_input(
    endpoints: tuple[EndpointState, ...],
    task: Task = Task.COMPLEX_REASONING,
    *,
    route: tuple[str, ...] | None = None,
    pinned_tier: str | None = None,
    prompt_tokens: int = 200,
    excluded: frozenset[str] = frozenset(),
    weights: Mapping[tuple[Task, str], float] | None = None,
    seed: int = 0,
    ranking: Ranking = Ranking.COMPLETION,
    expected_output: Mapping[str, float] | None = None,
    max_output_tokens: int | None = None,
) -> DecisionInput:
    return DecisionInput(
        request_id="r1",
        classification=Classification(task, 0.9, "test", "explicit"),
        route=DEFAULT_ROUTES[task] if route is None else route,
        pinned_tier=pinned_tier,
        endpoints=endpoints,
        prompt_tokens=prompt_tokens,
        needs=EMBED if task is Task.EMBEDDING else CHAT,
        feedback_weights=weights or {},
        excluded=excluded,
        rng=random.Random(seed),
        ranking=ranking,
        expected_output_tokens=expected_output or {},
        max_output_tokens=max_output_tokens,
    )


@contextmanager
def registered_policy(name: str) -> Iterator[str]:
    """A policy in the router's registry under `name` for the length of a test (it decides as `static` does)."""
    register_policy(name, StaticPolicy)
    try:
        yield name
    finally:
        del POLICIES[name]

"""Routing policies: pure functions from a DecisionInput to a PolicyResult.

    policy = make_policy(settings.policy, settings)
    result = policy.decide(decision_input)

`register_policy` lets other code (the benchmark's baselines) add policies by name.
"""

from __future__ import annotations

from collections.abc import Callable

from zeta_console.router.policies.adaptive import AdaptivePolicy
from zeta_console.router.policies.base import Policy, PolicyResult
from zeta_console.router.policies.least_load import LeastLoadPolicy
from zeta_console.router.policies.static import StaticPolicy
from zeta_console.router.policies.threshold import ThresholdPolicy
from zeta_console.settings import PolicyName, Settings

PolicyFactory = Callable[[Settings], Policy]

POLICIES: dict[str, PolicyFactory] = {
    PolicyName.STATIC.value: StaticPolicy,
    PolicyName.THRESHOLD.value: ThresholdPolicy,
    PolicyName.LEAST_LOAD.value: LeastLoadPolicy,
    PolicyName.ADAPTIVE.value: AdaptivePolicy,
}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Make `name` available to make_policy; re-registering a name replaces it."""
    POLICIES[name] = factory


def make_policy(name: PolicyName | str, settings: Settings) -> Policy:
    key = name.value if isinstance(name, PolicyName) else str(name)
    factory = POLICIES.get(key)
    if factory is None:
        raise ValueError(f"unknown policy {key!r}; choose one of: {', '.join(sorted(POLICIES))}")
    return factory(settings)


__all__ = ["POLICIES", "Policy", "PolicyFactory", "PolicyResult", "make_policy", "register_policy"]

"""Routing policies: pure functions from a DecisionInput to a PolicyResult.

    policy = make_policy(settings.policy, settings)
    result = policy.decide(decision_input)

`POLICIES` is the one list of policy names: the configuration's `policy`, the router's
`set_policy`, the console (through `RouterSnapshot.policies`) and the benchmark all take theirs
from it, so a policy added with `register_policy` is accepted and offered everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from zeta_console.router.policies.adaptive import AdaptivePolicy
from zeta_console.router.policies.base import Policy, PolicyResult
from zeta_console.router.policies.least_load import LeastLoadPolicy
from zeta_console.router.policies.static import StaticPolicy
from zeta_console.router.policies.threshold import ThresholdPolicy
from zeta_console.settings import PolicyName, Settings
from zeta_console.yaml_source import unknown

PolicyFactory = Callable[[Settings], Policy]

POLICIES: dict[str, PolicyFactory] = {policy.name: policy for policy in (StaticPolicy, ThresholdPolicy, LeastLoadPolicy, AdaptivePolicy)}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Make `name` available to make_policy; re-registering a name replaces it."""
    POLICIES[name] = factory


def policy_names() -> tuple[PolicyName, ...]:
    """The registered names, built-in ones first."""
    return tuple(PolicyName(name) for name in POLICIES)


def policy_name(name: str) -> PolicyName:
    """`name` if a policy of that name is registered; ValueError otherwise (`unknown policy "x"; did you mean ...`)."""
    if name not in POLICIES:
        raise ValueError(unknown("policy", name, list(POLICIES)))
    return PolicyName(name)


def make_policy(name: str, settings: Settings) -> Policy:
    return POLICIES[policy_name(name)](settings)


__all__ = ["POLICIES", "Policy", "PolicyFactory", "PolicyResult", "make_policy", "policy_name", "policy_names", "register_policy"]

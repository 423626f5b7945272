"""Operator controls: validated changes to what the next decision sees, each one recorded.

`OperatorControls` is the router's component that implements `RouterControls`: it owns the
`ControlState` (pins, drains, thresholds, the policy in force and its instance) and reports each
action to `on_action` (the router: listeners, and queued requests re-decide).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from zeta_console.number_rules import threshold_value, tier_tolerance_value
from zeta_console.router.api import ALL_TASKS, OperatorAction
from zeta_console.router.health import CircuitBreakers
from zeta_console.router.policies import Policy, policy_name
from zeta_console.settings import PolicyName, Settings, Task, Thresholds

PolicyFactory = Callable[[PolicyName | str, Settings], Policy]

THRESHOLD_NAMES = frozenset(item.name for item in fields(Thresholds))
NOT_SET = ""
TIER_TOLERANCE = "adaptive.tier_tolerance"


def task_needs(task: Task) -> str:
    return "embedding" if task is Task.EMBEDDING else "completion"


@dataclass
class ControlState:
    policy: PolicyName
    thresholds: Thresholds
    tier_thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)  # tier -> name -> value (operator overrides)
    pins: dict[str, str] = field(default_factory=dict)  # task value or "*" -> tier
    drained: set[str] = field(default_factory=set)
    hedging: bool = True  # hedge late first tokens (the live switch)
    tier_tolerance: float = 1.0  # adaptive's preference for the route's order (1 = time alone)


class OperatorControls:
    def __init__(
        self,
        settings: Settings,
        breakers: CircuitBreakers,
        endpoint_ids: Sequence[str],
        policy_factory: PolicyFactory,
        *,
        sole_server_of: Callable[[str], Task | None],
        on_action: Callable[[OperatorAction], None],
    ) -> None:
        """`sole_server_of(endpoint)`: a task whose route has no usable endpoint but this one (it may not be ejected)."""
        self.settings = settings
        self.state = ControlState(
            policy=settings.policy,
            thresholds=settings.thresholds,
            hedging=settings.hedging.enabled,
            tier_tolerance=settings.adaptive.tier_tolerance,
        )
        self.breakers = breakers
        self.endpoint_ids = tuple(endpoint_ids)
        self._policy_factory = policy_factory
        self.policy: Policy = policy_factory(settings.policy, settings)  # the instance the next decision uses
        self._sole_server_of = sole_server_of
        self._on_action = on_action

    def _record(self, action: str, target: str, old: object, new: object, source: str) -> OperatorAction:
        recorded = OperatorAction(at=time.time(), action=action, target=target, old=str(old), new=str(new), source=source)
        self._on_action(recorded)
        return recorded

    def thresholds_for(self, tier: str) -> Thresholds:
        base = self.settings.model(tier).thresholds or self.state.thresholds
        overrides = self.state.tier_thresholds.get(tier)
        return replace(base, **overrides) if overrides else base

    def pin_for(self, task: Task) -> str | None:
        """The pin in force for `task`: its own, else the "*" pin if that tier can serve the task."""
        tier = self.state.pins.get(task.value)
        if tier is not None:
            return tier
        tier = self.state.pins.get(ALL_TASKS)
        if tier is not None and task_needs(task) in self.settings.model(tier).capabilities:
            return tier
        return None

    def _check_tier(self, tier: str) -> None:
        if tier not in {model.tier for model in self.settings.models}:
            raise ValueError(f"unknown tier {tier!r}: expected one of {', '.join(model.tier for model in self.settings.models)}")

    def _check_endpoint(self, endpoint: str) -> None:
        if endpoint not in self.endpoint_ids:
            raise ValueError(f"unknown endpoint {endpoint!r}: expected one of {', '.join(self.endpoint_ids)}")

    def set_policy(self, policy: PolicyName | str, source: str = "operator") -> OperatorAction:
        name = policy_name(policy)
        self.policy = self._policy_factory(name, self._policy_settings())
        old, self.state.policy = self.state.policy, name
        return self._record("set_policy", "policy", old, name, source)

    def set_tier_tolerance(self, value: Any, source: str = "operator") -> OperatorAction:
        """adaptive's preference for the route's order; the policy in force is rebuilt with it (policies keep no state)."""
        number = tier_tolerance_value(value)
        old, self.state.tier_tolerance = self.state.tier_tolerance, number
        self.policy = self._policy_factory(self.state.policy, self._policy_settings())
        return self._record("set_tier_tolerance", TIER_TOLERANCE, old, number, source)

    def _policy_settings(self) -> Settings:
        """The settings a policy is built from: the configuration's, with the operator's live changes."""
        if self.state.tier_tolerance == self.settings.adaptive.tier_tolerance:
            return self.settings
        return replace(self.settings, adaptive=replace(self.settings.adaptive, tier_tolerance=self.state.tier_tolerance))

    def set_threshold(self, name: str, value: Any, tier: str | None = None, source: str = "operator") -> OperatorAction:
        number = threshold_value(name, value)
        if tier is None:
            old = getattr(self.state.thresholds, name)
            changed: dict[str, Any] = {name: number}  # a field of Thresholds, checked by threshold_value
            self.state.thresholds = replace(self.state.thresholds, **changed)
            return self._record("set_threshold", f"thresholds.{name}", old, number, source)
        self._check_tier(tier)
        old = getattr(self.thresholds_for(tier), name)
        self.state.tier_thresholds.setdefault(tier, {})[name] = number
        return self._record("set_threshold", f"{tier}.thresholds.{name}", old, number, source)

    def pin(self, tier: str, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        self._check_tier(tier)
        key = self._task_key(task)
        if key != ALL_TASKS and task_needs(Task(key)) not in self.settings.model(tier).capabilities:
            raise ValueError(f"tier {tier!r} cannot serve {key} requests")
        old = self.state.pins.get(key, NOT_SET)
        self.state.pins[key] = tier
        return self._record("pin", key, old, tier, source)

    def unpin(self, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        key = self._task_key(task)
        old = self.state.pins.pop(key, NOT_SET)
        return self._record("unpin", key, old, NOT_SET, source)

    @staticmethod
    def _task_key(task: Task | str) -> str:
        if task == ALL_TASKS:
            return ALL_TASKS
        try:
            return Task(task).value
        except ValueError:
            raise ValueError(f"unknown task {task!r}: expected one of {', '.join(Task)} or {ALL_TASKS!r}") from None

    def drain(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._set_drained(endpoint, True, "drain", source)

    def undrain(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._set_drained(endpoint, False, "undrain", source)

    def _set_drained(self, endpoint: str, drained: bool, action: str, source: str) -> OperatorAction:
        self._check_endpoint(endpoint)
        old = endpoint in self.state.drained
        if drained:
            self.state.drained.add(endpoint)
        else:
            self.state.drained.discard(endpoint)
        return self._record(action, endpoint, "drained" if old else "serving", "drained" if drained else "serving", source)

    def eject(self, endpoint: str, source: str = "operator") -> OperatorAction:
        """Refused for the last usable endpoint of a route: the policies would keep sending it work anyway."""
        self._check_endpoint(endpoint)
        task = self._sole_server_of(endpoint)
        if task is not None:
            raise ValueError(f"{endpoint} is the last endpoint that can serve {task.value} requests: not ejected (drain it instead)")
        old = self.breakers.state(endpoint).manual
        self.breakers.eject(endpoint)
        return self._record("eject", endpoint, "ejected" if old else "in", "ejected", source)

    def restore(self, endpoint: str, source: str = "operator") -> OperatorAction:
        self._check_endpoint(endpoint)
        old = self.breakers.state(endpoint).manual
        self.breakers.restore(endpoint)
        return self._record("restore", endpoint, "ejected" if old else "in", "in", source)

    def set_hedging(self, enabled: bool, source: str = "operator") -> OperatorAction:
        """Switch hedging before the first token on or off; races under way finish as they started."""
        old, self.state.hedging = self.state.hedging, bool(enabled)
        return self._record("set_hedging", "hedging", _on_off(old), _on_off(self.state.hedging), source)

    def differs_from_config(self) -> frozenset[str]:
        changed: set[str] = set()
        if self.state.policy != self.settings.policy:
            changed.add("policy")
        thresholds, configured = self.state.thresholds, self.settings.thresholds
        changed.update(f"thresholds.{name}" for name in THRESHOLD_NAMES if getattr(thresholds, name) != getattr(configured, name))
        changed.update(f"{tier}.thresholds.{name}" for tier, overrides in self.state.tier_thresholds.items() for name in overrides)
        changed.update(f"pins.{task}" for task in self.state.pins)
        changed.update(f"drained.{endpoint}" for endpoint in self.state.drained)
        changed.update(f"ejected.{endpoint}" for endpoint in self.endpoint_ids if self.breakers.state(endpoint).manual)
        if self.state.hedging != self.settings.hedging.enabled:
            changed.add("hedging.enabled")
        if self.state.tier_tolerance != self.settings.adaptive.tier_tolerance:
            changed.add(TIER_TOLERANCE)
        return frozenset(changed)

    def revert_to_config(self, source: str = "operator") -> tuple[OperatorAction, ...]:
        actions: list[OperatorAction] = []
        if self.state.policy != self.settings.policy:
            actions.append(self.set_policy(self.settings.policy, source))
        for name in sorted(THRESHOLD_NAMES):
            if getattr(self.state.thresholds, name) != getattr(self.settings.thresholds, name):
                actions.append(self.set_threshold(name, getattr(self.settings.thresholds, name), source=source))
        for tier, overrides in list(self.state.tier_thresholds.items()):
            old = self.thresholds_for(tier)
            del self.state.tier_thresholds[tier]
            new = self.thresholds_for(tier)
            actions.extend(
                self._record("set_threshold", f"{tier}.thresholds.{name}", getattr(old, name), getattr(new, name), source)
                for name in sorted(overrides)
            )
        actions.extend(self.unpin(task, source) for task in list(self.state.pins))
        actions.extend(self.undrain(endpoint, source) for endpoint in sorted(self.state.drained))
        actions.extend(self.restore(endpoint, source) for endpoint in self.endpoint_ids if self.breakers.state(endpoint).manual)
        if self.state.hedging != self.settings.hedging.enabled:
            actions.append(self.set_hedging(self.settings.hedging.enabled, source))
        if self.state.tier_tolerance != self.settings.adaptive.tier_tolerance:
            actions.append(self.set_tier_tolerance(self.settings.adaptive.tier_tolerance, source))
        return tuple(actions)


def _on_off(enabled: bool) -> str:
    return "on" if enabled else "off"

"""Operator controls: validated changes to what the next decision sees, each one recorded.

`OperatorControls` implements `RouterControls` over a `ControlState`; the router subclasses it
and says what an action does beyond the state change (`_after_action`: notify listeners,
journal, let queued requests re-decide).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

from zeta_console.number_rules import threshold_value
from zeta_console.router.api import ALL_TASKS, OperatorAction
from zeta_console.router.health import CircuitBreakers
from zeta_console.router.policies import policy_name
from zeta_console.settings import PolicyName, Settings, Task, Thresholds

THRESHOLD_NAMES = frozenset(item.name for item in fields(Thresholds))
NOT_SET = ""


def task_needs(task: Task) -> str:
    return "embedding" if task is Task.EMBEDDING else "completion"


@dataclass
class ControlState:
    policy: PolicyName
    thresholds: Thresholds
    tier_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # tier -> name -> value (operator overrides)
    pins: dict[str, str] = field(default_factory=dict)  # task value or "*" -> tier
    drained: set[str] = field(default_factory=set)


class OperatorControls:
    settings: Settings
    controls: ControlState
    breakers: CircuitBreakers
    endpoint_ids: tuple[str, ...]

    def _after_action(self, action: OperatorAction) -> None:
        raise NotImplementedError

    def _install_policy(self, name: PolicyName) -> None:
        """Make `name` the policy of the next decision; ValueError when it does not exist."""
        raise NotImplementedError

    def _sole_server_of(self, endpoint: str) -> Task | None:
        """A task whose route has no usable endpoint but this one (the breaker never ejects such an endpoint)."""
        raise NotImplementedError

    def _record(self, action: str, target: str, old: object, new: object, source: str) -> OperatorAction:
        recorded = OperatorAction(at=time.time(), action=action, target=target, old=str(old), new=str(new), source=source)
        self._after_action(recorded)
        return recorded

    def thresholds_for(self, tier: str) -> Thresholds:
        base = self.settings.model(tier).thresholds or self.controls.thresholds
        overrides = self.controls.tier_thresholds.get(tier)
        return replace(base, **overrides) if overrides else base  # type: ignore[arg-type]

    def pin_for(self, task: Task) -> str | None:
        """The pin in force for `task`: its own, else the "*" pin if that tier can serve the task."""
        tier = self.controls.pins.get(task.value)
        if tier is not None:
            return tier
        tier = self.controls.pins.get(ALL_TASKS)
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
        self._install_policy(name)
        old, self.controls.policy = self.controls.policy, name
        return self._record("set_policy", "policy", old, name, source)

    def set_threshold(self, name: str, value: Any, tier: str | None = None, source: str = "operator") -> OperatorAction:
        number = threshold_value(name, value)
        if tier is None:
            old = getattr(self.controls.thresholds, name)
            self.controls.thresholds = replace(self.controls.thresholds, **{name: number})
            return self._record("set_threshold", f"thresholds.{name}", old, number, source)
        self._check_tier(tier)
        old = getattr(self.thresholds_for(tier), name)
        self.controls.tier_thresholds.setdefault(tier, {})[name] = number
        return self._record("set_threshold", f"{tier}.thresholds.{name}", old, number, source)

    def pin(self, tier: str, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        self._check_tier(tier)
        key = self._task_key(task)
        if key != ALL_TASKS and task_needs(Task(key)) not in self.settings.model(tier).capabilities:
            raise ValueError(f"tier {tier!r} cannot serve {key} requests")
        old = self.controls.pins.get(key, NOT_SET)
        self.controls.pins[key] = tier
        return self._record("pin", key, old, tier, source)

    def unpin(self, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        key = self._task_key(task)
        old = self.controls.pins.pop(key, NOT_SET)
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
        old = endpoint in self.controls.drained
        if drained:
            self.controls.drained.add(endpoint)
        else:
            self.controls.drained.discard(endpoint)
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

    def differs_from_config(self) -> frozenset[str]:
        changed: set[str] = set()
        if self.controls.policy != self.settings.policy:
            changed.add("policy")
        changed.update(f"thresholds.{name}" for name in THRESHOLD_NAMES if getattr(self.controls.thresholds, name) != getattr(self.settings.thresholds, name))
        changed.update(f"{tier}.thresholds.{name}" for tier, overrides in self.controls.tier_thresholds.items() for name in overrides)
        changed.update(f"pins.{task}" for task in self.controls.pins)
        changed.update(f"drained.{endpoint}" for endpoint in self.controls.drained)
        changed.update(f"ejected.{endpoint}" for endpoint in self.endpoint_ids if self.breakers.state(endpoint).manual)
        return frozenset(changed)

    def revert_to_config(self, source: str = "operator") -> tuple[OperatorAction, ...]:
        actions: list[OperatorAction] = []
        if self.controls.policy != self.settings.policy:
            actions.append(self.set_policy(self.settings.policy, source))
        for name in sorted(THRESHOLD_NAMES):
            if getattr(self.controls.thresholds, name) != getattr(self.settings.thresholds, name):
                actions.append(self.set_threshold(name, getattr(self.settings.thresholds, name), source=source))
        for tier, overrides in list(self.controls.tier_thresholds.items()):
            old = self.thresholds_for(tier)
            del self.controls.tier_thresholds[tier]
            new = self.thresholds_for(tier)
            actions.extend(self._record("set_threshold", f"{tier}.thresholds.{name}", getattr(old, name), getattr(new, name), source) for name in sorted(overrides))
        actions.extend(self.unpin(task, source) for task in list(self.controls.pins))
        actions.extend(self.undrain(endpoint, source) for endpoint in sorted(self.controls.drained))
        actions.extend(self.restore(endpoint, source) for endpoint in self.endpoint_ids if self.breakers.state(endpoint).manual)
        return tuple(actions)

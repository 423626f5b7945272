"""A fault timeline played against a running fleet (`zeta-console sim --scenario FILE`).

The file is a YAML list of events; times are simulated seconds (divided by the fleet's
time_scale when played), written as numbers or durations ("30s", "2m", "500ms"):

    - {at: 30s, host: local, model: qwen3:14b, fault: {slow_factor: 5}, for: 60s}
    - {at: 45s, model: qwen2.5-coder:7b, fault: {error_rate: 0.5}}   # every host; stays on
    - {at: 100s, host: local, clear: qwen2.5-coder:7b}                # clear one model ("all": every one)
    - {at: 120s, host: local, down: 20s}                              # refuse connections for 20 s
    - {at: 200s, host: local, unload: qwen3:14b}                      # as keep_alive 0 would

`fault` takes the fields of `Fault` (slow_factor, error_rate, fail_after_chunks, stall_s,
drop_connection, busy_burst); with `for` the fault is cleared again after that long. `host`
may be left out: the event then applies to every host. Mistakes raise
UserError("<file>:<line>: <key>: <problem>", exit status 2).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeta_console.sim.faults import Fault
from zeta_console.sim.fleet_file import SYNTAX_LABEL, seconds, text
from zeta_console.sim.server import SimFleet, SimHost
from zeta_console.yaml_source import Keys, YamlSource, read_yaml

ACTIONS = ("fault", "clear", "down", "unload")
ALL_MODELS = "all"


@dataclass(frozen=True)
class ScenarioEvent:
    at_s: float
    action: str  # one of ACTIONS
    host: str | None = None  # None = every host
    model: str | None = None  # fault, unload; clear: None = every model
    fault: Fault | None = None
    for_s: float | None = None  # fault: cleared after this long; down: back up after this long


@dataclass(frozen=True)
class Scenario:
    events: tuple[ScenarioEvent, ...]
    source: str = "<scenario>"


def _fault(value: Any) -> Fault:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of fault fields")
    return Fault.from_mapping(dict(value))


def _positive_seconds(value: Any) -> float:
    result = seconds(value)
    if result <= 0:
        raise ValueError("must be > 0")
    return result


def _event(source: YamlSource, entry: dict[str, Any], keys: Keys) -> ScenarioEvent:
    source.check_keys(entry, keys, ["at", "host", "model", "for", *ACTIONS])
    actions = [action for action in ACTIONS if action in entry]
    if len(actions) != 1:
        raise source.error(keys, f"needs exactly one of: {', '.join(ACTIONS)}")
    action = actions[0]
    if "at" not in entry:
        raise source.error((*keys, "at"), "required")
    at_s = source.field(entry, keys, "at", seconds, 0.0)
    if at_s < 0:
        raise source.error((*keys, "at"), "must be >= 0")
    host = source.field(entry, keys, "host", text, None)
    if action == "fault":
        model = source.field(entry, keys, "model", text, None)
        if model is None:
            raise source.error((*keys, "model"), "required with fault")
        fault = source.field(entry, keys, "fault", _fault, Fault())
        return ScenarioEvent(at_s, action, host, model, fault, source.field(entry, keys, "for", _positive_seconds, None))
    if "model" in entry or "for" in entry:
        extra = "model" if "model" in entry else "for"
        raise source.error((*keys, extra), f"only used with fault (write {action}: <value>)")
    if action == "down":
        return ScenarioEvent(at_s, action, host, for_s=source.field(entry, keys, "down", _positive_seconds, 0.0))
    model = source.field(entry, keys, action, text, ALL_MODELS)
    return ScenarioEvent(at_s, action, host, None if model == ALL_MODELS and action == "clear" else model)


def load_scenario(path: str | Path) -> Scenario:
    source = read_yaml(path, syntax_label=SYNTAX_LABEL)
    entries = source.sequence(source.root, ())
    events = [_event(source, source.mapping(item, (index,)), (index,)) for index, item in enumerate(entries)]
    return Scenario(tuple(sorted(events, key=lambda event: event.at_s)), str(path))


def _hosts(fleet: SimFleet, event: ScenarioEvent) -> list[SimHost]:
    return [fleet.host(event.host)] if event.host else list(fleet.hosts.values())


async def _apply(fleet: SimFleet, event: ScenarioEvent, wall_per_simulated_s: float) -> None:
    for host in _hosts(fleet, event):
        if event.action == "fault" and event.model and event.fault:
            host.set_fault(event.model, event.fault)
        elif event.action == "clear":
            host.clear_faults(event.model)
        elif event.action == "down" and event.for_s:
            host.down_for(event.for_s * wall_per_simulated_s)
        elif event.action == "unload" and event.model:
            await host.unload(event.model)


async def _clear_later(fleet: SimFleet, event: ScenarioEvent, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    for host in _hosts(fleet, event):
        host.clear_faults(event.model)


async def play_scenario(fleet: SimFleet, scenario: Scenario, time_scale: float = 1.0) -> None:
    """Apply each event at its time (simulated seconds / time_scale after the call); returns
    when the last event, including any `for` clean-up, is done."""
    started = time.monotonic()
    wall_per_simulated_s = 1.0 / time_scale
    later: list[asyncio.Task[None]] = []
    try:
        for event in scenario.events:
            await asyncio.sleep(max(0.0, started + event.at_s * wall_per_simulated_s - time.monotonic()))
            await _apply(fleet, event, wall_per_simulated_s)
            if event.action == "fault" and event.for_s:
                later.append(asyncio.get_running_loop().create_task(_clear_later(fleet, event, event.for_s * wall_per_simulated_s)))
        await asyncio.gather(*later)
    finally:
        for task in later:
            task.cancel()

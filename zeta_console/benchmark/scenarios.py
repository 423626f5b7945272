"""Benchmark scenarios: NAME.yaml -> a validated, immutable `Scenario`.

A scenario names a fleet, the traffic (phases of Poisson rates per task type) and a fault
timeline for the emulator. Errors name file, line and key, and exit with status 2.
See bench/scenarios/README.md for the format. The shipped files live in bench/scenarios;
`scenario_files` in this package is a symlink to it, so they ship in the wheel (package data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zeta_console.benchmark.trace import DEFAULT_SIZES, ConversationPlan, TaskSizes, TokenRange, TrafficPhase
from zeta_console.errors import UserError
from zeta_console.settings import Task
from zeta_console.sim.faults import Fault
from zeta_console.yaml_source import ConfigError, Keys, YamlSource, read_yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenario_files"
ACTIONS = frozenset({"fault", "clear_faults", "host_down", "host_up", "unload"})
FAULT_KEYS = frozenset(field.name for field in fields(Fault))


@dataclass(frozen=True)
class HostPlan:
    name: str
    tiers: tuple[str, ...]
    speed: float = 1.0  # multiplies every model's prefill and decode rates on this host
    slots: Mapping[str, int] | None = None  # tier -> parallel slots (default: the emulator's)


@dataclass(frozen=True)
class FaultEvent:
    at_s: float
    action: str  # one of ACTIONS
    tier: str | None = None  # fault, unload
    host: str | None = None  # host_down, host_up; fault/unload: None = every host serving the tier
    fault: Fault | None = None  # action "fault" only


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    duration_s: float
    seed: int
    time_scale: float
    quick_time_scale: float
    hosts: tuple[HostPlan, ...]
    keep_alive_s: float | None  # None = the emulator's default
    traffic: tuple[TrafficPhase, ...]
    sizes: Mapping[Task, TaskSizes]
    events: tuple[FaultEvent, ...]
    watch_tier: str | None  # the tier whose fault the slowdown/failure measurements follow
    real: bool = False  # real llama.cpp servers of the tiny model, one per host, at 1x (benchmark/real_fleet.py)
    conversations: ConversationPlan | None = None  # multi-turn chats beside (or instead of) the traffic phases


class _Reader:
    """Typed field access on one mapping of the document, with located errors."""

    def __init__(self, source: YamlSource, data: Any, keys: Keys, allowed: frozenset[str]) -> None:
        self.data = source.mapping(data, keys)
        source.check_keys(self.data, keys, sorted(allowed))
        self.source, self.keys = source, keys

    def error(self, key: str | int, message: str) -> ConfigError:
        return self.source.error((*self.keys, key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def number(self, key: str, default: float | None = None, minimum: float = 0.0, positive: bool = False) -> float:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, "required")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if value < minimum or (positive and value <= 0):
            raise self.error(key, f"must be {'> 0' if positive else f'>= {minimum}'}, got {value}")
        return float(value)

    def text(self, key: str, default: str | None = None, choices: frozenset[str] | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.error(key, "required" if value is None else f"expected text, got {value!r}")
        if choices is not None and value not in choices:
            raise self.error(key, f"{value!r} is not one of: {', '.join(sorted(choices))}")
        return value

    def child(self, key: str | int, data: Any, allowed: frozenset[str]) -> _Reader:
        return _Reader(self.source, data, (*self.keys, key), allowed)

    def items(self, key: str) -> list[tuple[int, Any]]:
        return list(enumerate(self.source.sequence(self.data.get(key, []), (*self.keys, key))))


def resolve_scenario_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return candidate
    return SCENARIO_DIR / f"{name_or_path}.yaml"


def available_scenarios() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml")))


def load_scenario(name_or_path: str) -> Scenario:
    path = resolve_scenario_path(name_or_path)
    if not path.exists():
        known = ", ".join(available_scenarios())
        raise UserError(f"no such scenario {name_or_path!r} (known: {known}; or the path of a scenario file)", exit_code=2)
    source = read_yaml(path, syntax_label="not valid YAML")
    top = _Reader(
        source,
        source.root,
        (),
        frozenset(
            {
                "description",
                "duration_s",
                "seed",
                "time_scale",
                "quick_time_scale",
                "fleet",
                "keep_alive_s",
                "traffic",
                "sizes",
                "events",
                "watch_tier",
                "real",
                "conversations",
            }
        ),
    )
    duration_s = top.number("duration_s", positive=True)
    hosts = _hosts(top)
    tiers = {tier for host in hosts for tier in host.tiers}
    events = _events(top, tiers, {host.name for host in hosts}, duration_s)
    watch_tier = top.raw("watch_tier")
    if watch_tier is not None and watch_tier not in tiers:
        raise top.error("watch_tier", f"{watch_tier!r} is not a tier of the fleet ({', '.join(sorted(tiers))})")
    real = top.raw("real", False)
    if not isinstance(real, bool):
        raise top.error("real", f"expected true or false, got {real!r}")
    if real:
        _check_real(top, hosts)
    conversations = _conversations(top, duration_s) if top.has("conversations") else None
    return Scenario(
        name=path.stem,
        description=top.text("description"),
        source=str(path),
        duration_s=duration_s,
        seed=int(top.number("seed", default=1)),
        time_scale=1.0 if real else top.number("time_scale", default=10, positive=True),
        quick_time_scale=1.0 if real else top.number("quick_time_scale", default=40, positive=True),
        hosts=hosts,
        keep_alive_s=top.number("keep_alive_s") if top.has("keep_alive_s") else None,
        traffic=_traffic(top, duration_s, required=conversations is None),
        sizes=_sizes(top),
        events=events,
        watch_tier=watch_tier,
        real=real,
        conversations=conversations,
    )


def _check_real(top: _Reader, hosts: tuple[HostPlan, ...]) -> None:
    """A real fleet runs in real time, one llama.cpp server (one tier, one slot) per host, with no emulator faults."""
    for key in ("time_scale", "quick_time_scale", "keep_alive_s", "events"):
        if top.has(key):
            raise top.error(key, "a real fleet (real: true) runs at 1x on real servers: no time scale, keep-alive or emulator events")
    for index, host in enumerate(hosts):
        where = ("fleet", "hosts", index)
        if len(host.tiers) != 1:
            raise top.source.error((*where, "tiers"), f"a real host runs one llama.cpp server: one tier, got {len(host.tiers)}")
        if host.speed != 1.0 or host.slots is not None:
            raise top.source.error((*where, "speed" if host.speed != 1.0 else "slots"), "a real server runs at its own speed with one slot")


def _task(reader: _Reader, key: str) -> Task:
    try:
        return Task(key)
    except ValueError:
        raise reader.error(key, f"unknown task type (expected one of: {', '.join(task.value for task in Task)})") from None


def _hosts(top: _Reader) -> tuple[HostPlan, ...]:
    fleet = top.child("fleet", top.raw("fleet"), frozenset({"hosts"}))
    hosts: list[HostPlan] = []
    for index, raw in fleet.items("hosts"):
        entry = _Reader(fleet.source, raw, (*fleet.keys, "hosts", index), frozenset({"name", "tiers", "speed", "slots"}))
        tiers = entry.raw("tiers")
        if not isinstance(tiers, list) or not tiers or not all(isinstance(tier, str) for tier in tiers):
            raise entry.error("tiers", "expected a non-empty list of tier names")
        slots = entry.raw("slots")
        if slots is not None:
            slot_reader = entry.child("slots", slots, frozenset(tiers))
            slots = {tier: int(slot_reader.number(tier, positive=True)) for tier in slots}
        hosts.append(HostPlan(entry.text("name"), tuple(tiers), entry.number("speed", default=1.0, positive=True), slots))
    if not hosts:
        raise fleet.error("hosts", "a fleet needs at least one host")
    return tuple(hosts)


def _traffic(top: _Reader, duration_s: float, required: bool) -> tuple[TrafficPhase, ...]:
    phases: list[TrafficPhase] = []
    for index, raw in top.items("traffic"):
        entry = _Reader(top.source, raw, ("traffic", index), frozenset({"start_s", "end_s", "rates_per_s"}))
        start_s = entry.number("start_s", default=0.0)
        end_s = entry.number("end_s", default=duration_s)
        if not start_s < end_s <= duration_s:
            raise entry.error("end_s", f"need start_s < end_s <= duration_s ({duration_s:g}), got {start_s:g}..{end_s:g}")
        rates_raw = entry.raw("rates_per_s")
        rates = entry.child("rates_per_s", rates_raw, frozenset(task.value for task in Task))
        phases.append(TrafficPhase(start_s, end_s, {_task(rates, key): rates.number(key) for key in rates_raw}))
    if not phases and required:
        raise top.error("traffic", "a scenario needs at least one traffic phase (or conversations)")
    return tuple(phases)


_CONVERSATION_KEYS = frozenset(
    {"count", "start_s", "end_s", "task", "turns", "system_tokens", "question_tokens", "output_tokens", "think_s"}
)


def _conversations(top: _Reader, duration_s: float) -> ConversationPlan:
    entry = top.child("conversations", top.raw("conversations"), _CONVERSATION_KEYS)
    start_s = entry.number("start_s", default=0.0)
    end_s = entry.number("end_s", default=duration_s)
    if not start_s < end_s <= duration_s:
        raise entry.error("end_s", f"need start_s < end_s <= duration_s ({duration_s:g}), got {start_s:g}..{end_s:g}")
    task = Task(entry.text("task", default=Task.SIMPLE.value, choices=frozenset(t.value for t in Task if t is not Task.EMBEDDING)))
    think = _token_range(entry, "think_s", TokenRange(10, 30))
    return ConversationPlan(
        count=int(entry.number("count", positive=True)),
        start_s=start_s,
        end_s=end_s,
        task=task,
        turns=_token_range(entry, "turns", TokenRange(6, 12)),
        system_tokens=_token_range(entry, "system_tokens", TokenRange(500, 1500)),
        question_tokens=_token_range(entry, "question_tokens", TokenRange(200, 600)),
        output_tokens=_token_range(entry, "output_tokens", TokenRange(60, 120)),
        think_s=(float(think.low), float(think.high)),
    )


def _sizes(top: _Reader) -> Mapping[Task, TaskSizes]:
    sizes = dict(DEFAULT_SIZES)
    raw = top.raw("sizes")
    if raw is None:
        return sizes
    reader = top.child("sizes", raw, frozenset(task.value for task in Task))
    for key, value in raw.items():
        entry = reader.child(key, value, frozenset({"prompt_tokens", "output_tokens"}))
        default = sizes[_task(reader, key)]
        sizes[Task(key)] = TaskSizes(
            _token_range(entry, "prompt_tokens", default.prompt_tokens),
            _token_range(entry, "output_tokens", default.output_tokens),
        )
    return sizes


def _token_range(entry: _Reader, key: str, default: TokenRange) -> TokenRange:
    value = entry.raw(key)
    if value is None:
        return default
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise entry.error(key, f"expected [low, high] token counts, got {value!r}")
    low, high = value
    if not 0 <= low <= high or (low == 0 and high > 0):
        raise entry.error(key, f"need 0 < low <= high (or [0, 0]), got {value!r}")
    return TokenRange(low, high)


def _events(top: _Reader, tiers: set[str], hosts: set[str], duration_s: float) -> tuple[FaultEvent, ...]:
    events: list[FaultEvent] = []
    for index, raw in top.items("events"):
        entry = _Reader(top.source, raw, ("events", index), frozenset({"at_s", "action", "tier", "host"}) | FAULT_KEYS)
        at_s = entry.number("at_s")
        if at_s > duration_s:
            raise entry.error("at_s", f"after the end of the scenario ({duration_s:g} s)")
        action = entry.text("action", choices=ACTIONS)
        tier = entry.text("tier", choices=frozenset(tiers)) if action in ("fault", "unload") else None
        needs_host = action in ("host_down", "host_up")
        host = entry.text("host", choices=frozenset(hosts)) if needs_host or entry.has("host") else None
        arguments = {key: entry.raw(key) for key in FAULT_KEYS if entry.has(key)}
        if action == "fault" and not arguments:
            raise entry.error("action", f"a fault needs at least one of: {', '.join(sorted(FAULT_KEYS))}")
        if action != "fault" and arguments:
            raise entry.error(next(iter(arguments)), f"only a 'fault' action takes fault arguments, not {action!r}")
        try:
            fault = Fault.from_mapping(arguments) if arguments else None
        except ValueError as error:
            raise entry.error(next(iter(arguments)), str(error)) from None
        events.append(FaultEvent(at_s, action, tier, host, fault))
    return tuple(sorted(events, key=lambda event: event.at_s))

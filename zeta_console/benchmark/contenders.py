"""One contender's run: a fresh emulated fleet, its fault timeline, and the shared replay."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import replace

import ollama

from zeta_console.benchmark.baselines import BASELINES, baseline_factories
from zeta_console.benchmark.litellm_driver import STRATEGIES as LITELLM_CONTENDERS
from zeta_console.benchmark.litellm_driver import LiteLLMContender
from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.runner import Contender, replay
from zeta_console.benchmark.scenarios import FaultEvent, Scenario
from zeta_console.benchmark.settings_scale import scaled_settings
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.benchmark.zeta_driver import ExpectedAnswer, ZetaContender
from zeta_console.composition import build_router
from zeta_console.router.policies import make_policy, policy_names
from zeta_console.router.router import HEALTH_POLL_S
from zeta_console.settings import Admission, HostConfig, Settings, Task
from zeta_console.sim import Fault, FleetSpec, HostSpec, SimFleet, default_fleet_spec, run_fleet

NO_HEDGE = ":no_hedge"  # a Zeta contender with hedging switched off, e.g. "adaptive:no_hedge"
# A Zeta contender whose callers stream to a reader (`Ranking.READER`), e.g. "adaptive:streamed": the same
# trace and fleet, ranked by the first token (and decode slower than reading) instead of the whole answer.
STREAMED = ":streamed"
# "adaptive:tiered": adaptive with the operator's tier preference on (`adaptive.tier_tolerance`), what the route's order
# costs in time: the preferred tier keeps a request while it takes at most this factor of the best's time.
TIERED = ":tiered"
TIERED_TOLERANCE = 6.0
DRAIN_FACTOR = 1.0  # after the last arrival, wait up to this many scenario durations for answers
MIN_HEALTH_POLL_S = 0.05


def known_contenders() -> tuple[str, ...]:
    """Every registered policy (read when asked, so a policy registered at import is one), the
    bench-only baselines, each of them with hedging off too and with streaming callers, adaptive with a tier preference,
    and the LiteLLM strategies."""
    zeta = (*policy_names(), *BASELINES)
    variants = (f"{name}{suffix}" for suffix in (NO_HEDGE, STREAMED) for name in zeta)
    return (*zeta, *variants, f"adaptive{TIERED}", *LITELLM_CONTENDERS)


def fleet_spec(scenario: Scenario, time_scale: float) -> FleetSpec:
    """The scenario's hosts, each serving its tiers with the emulator's default model profiles
    (the default settings name which model a tier runs), at the host's relative speed."""
    settings = Settings()
    profiles = {profile.name: profile for host in default_fleet_spec().hosts for profile in host.models}
    keep_alive = {} if scenario.keep_alive_s is None else {"keep_alive_s": scenario.keep_alive_s}
    hosts = tuple(
        HostSpec(
            name=plan.name,
            models=tuple(
                replace(
                    profiles[settings.model(tier).model],
                    prefill_tps=profiles[settings.model(tier).model].prefill_tps * plan.speed,
                    decode_tps=profiles[settings.model(tier).model].decode_tps * plan.speed,
                    num_parallel=(plan.slots or {}).get(tier, profiles[settings.model(tier).model].num_parallel),
                )
                for tier in plan.tiers
            ),
            **keep_alive,
        )
        for plan in scenario.hosts
    )
    return FleetSpec(hosts=hosts, time_scale=time_scale, seed=scenario.seed)


def bench_settings(scenario: Scenario, fleet: SimFleet) -> Settings:
    """The default settings over the scenario's hosts, each tier on the hosts that serve it.

    No request is shed for its predicted wait: these runs compare where policies send requests,
    and shedding would cap a queueing policy's latency by failing requests instead
    (bench/overload_admission.py measures admission)."""
    base = replace(Settings(), admission=Admission(patience_s=math.inf))
    hosts = tuple(HostConfig(plan.name, fleet.host(plan.name).url) for plan in scenario.hosts)
    models = tuple(
        replace(
            model,
            hosts=tuple(plan.name for plan in scenario.hosts if model.tier in plan.tiers),
            slots=max((plan.slots or {}).get(model.tier, model.slots) for plan in scenario.hosts),
        )
        for model in base.models
        if any(model.tier in plan.tiers for plan in scenario.hosts)
    )
    return replace(base, hosts=hosts, models=models, source=scenario.source)


async def play_events(fleet: SimFleet, settings: Settings, events: Sequence[FaultEvent], started: float, time_scale: float) -> None:
    """Apply the scenario's fault timeline at its instants (scenario seconds / time scale)."""
    for event in events:
        await asyncio.sleep(max(0.0, started + event.at_s / time_scale - time.perf_counter()))
        if event.action in ("fault", "unload"):
            model = settings.model(event.tier or "")
            for host in [event.host] if event.host else model.hosts:
                if event.action == "fault":
                    fleet.host(host).set_fault(model.model, replace(event.fault or Fault()))
                else:
                    await fleet.host(host).unload(model.model)
        elif event.action == "clear_faults":
            for host in [event.host] if event.host else [host.name for host in settings.hosts]:
                fleet.host(host).clear_faults()
        elif event.action == "host_down":
            fleet.host(event.host).host_down()
        elif event.action == "host_up":
            await fleet.host(event.host).host_up()


async def warm_up(fleet: SimFleet, spec: FleetSpec) -> None:
    """Load every model before the run, as on a server that has been up a while: the run then
    measures routing, not the first cold loads (the coldstart scenario unloads on purpose)."""
    for host in spec.hosts:
        async with ollama.AsyncClient(host=fleet.host(host.name).url) as client:
            for model in host.models:
                if model.is_embedding:
                    await client.embed(model=model.name, input=[])
                else:
                    await client.generate(model=model.name)


async def run_contender(name: str, scenario: Scenario, trace: Sequence[TraceRequest], time_scale: float) -> ContenderRun:
    if scenario.real:
        from zeta_console.benchmark.real_fleet import run_real_contender

        return await run_real_contender(name, scenario, trace)
    spec = fleet_spec(scenario, time_scale)
    async with run_fleet(spec) as fleet:
        await warm_up(fleet, spec)
        settings = scaled_settings(bench_settings(scenario, fleet), time_scale)
        preferred = {task: route[0] for task, route in settings.routes.items()}
        if name in LITELLM_CONTENDERS:
            return await _replay(LiteLLMContender(name, settings), fleet, settings, scenario, trace, time_scale, preferred)
        policy = name.removesuffix(NO_HEDGE).removesuffix(STREAMED).removesuffix(TIERED)
        settings = replace(settings, hedging=replace(settings.hedging, enabled=not name.endswith(NO_HEDGE)))
        if name.endswith(TIERED):
            settings = replace(settings, adaptive=replace(settings.adaptive, tier_tolerance=TIERED_TOLERANCE))
        baseline = baseline_factories(FleetTruth(fleet)).get(policy)
        router = build_router(
            settings,
            policy_factory=lambda _configured, current: baseline(current) if baseline else make_policy(policy, current),
            health_poll_s=max(MIN_HEALTH_POLL_S, HEALTH_POLL_S / time_scale),
            time_scale=time_scale,
        )
        async with router:
            contender = ZetaContender(name, router, expected_answers(fleet, settings), streamed=name.endswith(STREAMED))
            run = await _replay(contender, fleet, settings, scenario, trace, time_scale, preferred)
            hedging = router.snapshot().hedging
            if hedging is None or not settings.hedging.enabled:
                return run
            return replace(run, hedges_sent=hedging.sent, hedges_won=hedging.won)


def expected_answers(fleet: SimFleet, settings: Settings) -> ExpectedAnswer:
    """What each endpoint's host answers a chat: the reference the caller's bytes are checked against."""

    def expected(endpoint: str, contents: list[str], num_predict: int) -> str:
        tier, _, host = endpoint.partition("@")
        return fleet.host(host).chat_answer(settings.model(tier).model, contents, num_predict=num_predict)

    return expected


async def _replay(
    contender: Contender,
    fleet: SimFleet,
    settings: Settings,
    scenario: Scenario,
    trace: Sequence[TraceRequest],
    time_scale: float,
    preferred: dict[Task, str],
) -> ContenderRun:
    faults = asyncio.create_task(play_events(fleet, settings, scenario.events, time.perf_counter(), time_scale))
    try:
        return await replay(
            contender,
            trace,
            scenario=scenario.name,
            duration_s=scenario.duration_s,
            time_scale=time_scale,
            drain_s=scenario.duration_s * DRAIN_FACTOR,
            preferred_tiers=preferred,
            straggled=lambda contents: any(host.straggled(contents) for host in fleet.hosts.values()),
        )
    finally:
        faults.cancel()


class FleetTruth:
    """The oracle's view: the emulator's own prediction, from its true internal state."""

    def __init__(self, fleet: SimFleet) -> None:
        self._fleet = fleet

    def predicted_ttft_s(self, host: str, model: str, prompt_tokens: int) -> float | None:
        sim_host = self._fleet.host(host)
        return sim_host.predict_ttft_s(model, prompt_tokens) if sim_host.up else None

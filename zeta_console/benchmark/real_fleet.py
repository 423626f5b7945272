"""A contender's run against real llama.cpp servers of the tiny model (`real: true` scenarios), at 1x.

Each contender gets fresh servers (one per host, one thread and one slot each, so no prompt cache
carries over) and the same trace (every prompt names its request, so no server's prefix cache
reuses another's: real prompts differ too). The oracle
reads each server's true state (`/slots`: is its slot busy, how much of the prompt and of the
answer is left) at the moment it decides; the servers' own counters (`/metrics`) give their rates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from zeta_console.benchmark.baselines import baseline_factories
from zeta_console.benchmark.litellm_driver import STRATEGIES as LITELLM_CONTENDERS
from zeta_console.benchmark.litellm_driver import LiteLLMContender
from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.runner import Contender, replay
from zeta_console.benchmark.scenarios import Scenario
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.benchmark.zeta_driver import ZetaContender
from zeta_console.composition import build_router
from zeta_console.realfleet.llama_server import LlamaServer, LlamaServerOptions, require_xllamacpp, start_together
from zeta_console.realfleet.tiny_model import SMOLLM2, ensure_model
from zeta_console.router.policies import make_policy
from zeta_console.settings import Admission, HostConfig, Settings

DRAIN_FACTOR = 1.0  # after the last arrival, wait up to this many scenario durations for answers
# Until a server's counters have seen work: its rates on one thread of a shared 2-core machine.
SEED_PREFILL_TPS = 150.0
SEED_DECODE_TPS = 40.0
RATES_FRESH_S = 1.0


def real_settings(scenario: Scenario, urls: Mapping[str, str]) -> Settings:
    """The default settings over the scenario's llama.cpp hosts (`api: openai`), every tier the tiny model.

    As for the emulated runs, no request is shed for its predicted wait (see contenders.bench_settings)."""
    base = replace(Settings(), admission=Admission(patience_s=math.inf))
    hosts = tuple(HostConfig(plan.name, urls[plan.name], api="openai") for plan in scenario.hosts)
    models = tuple(
        replace(model, model=SMOLLM2.name, capabilities=frozenset({"completion"}),
                hosts=tuple(plan.name for plan in scenario.hosts if model.tier in plan.tiers))
        for model in base.models
        if any(model.tier in plan.tiers for plan in scenario.hosts)
    )
    return replace(base, hosts=hosts, models=models, source=scenario.source)


@asynccontextmanager
async def llama_fleet(scenario: Scenario) -> AsyncIterator[dict[str, str]]:
    """One fresh server per host, launched side by side from this (the main) thread; host -> URL."""
    require_xllamacpp("a real-fleet scenario")
    model = await asyncio.to_thread(ensure_model, SMOLLM2, None)
    servers = {plan.name: LlamaServer(LlamaServerOptions(model, SMOLLM2.name)) for plan in scenario.hosts}
    async with AsyncExitStack() as stack:
        await start_together(servers.values(), stack)
        yield {host: server.url for host, server in servers.items()}


async def run_real_contender(name: str, scenario: Scenario, trace: Sequence[TraceRequest]) -> ContenderRun:
    async with llama_fleet(scenario) as urls:
        settings = real_settings(scenario, urls)
        preferred = {task: route[0] for task, route in settings.routes.items()}
        if name in LITELLM_CONTENDERS:
            return await _replay(LiteLLMContender(name, settings), scenario, trace, preferred)
        with ServersTruth(urls) as truth:
            baseline = baseline_factories(truth).get(name)
            router = build_router(
                settings, policy_factory=lambda _configured, current: baseline(current) if baseline else make_policy(name, current)
            )
            async with router:
                return await _replay(ZetaContender(name, router), scenario, trace, preferred)


async def _replay(contender: Contender, scenario: Scenario, trace: Sequence[TraceRequest], preferred: Mapping[Any, str]) -> ContenderRun:
    return await replay(
        contender,
        trace,
        scenario=scenario.name,
        duration_s=scenario.duration_s,
        time_scale=1.0,
        drain_s=scenario.duration_s * DRAIN_FACTOR,
        preferred_tiers=preferred,
    )


class ServersTruth:
    """The oracle's view of real servers: each one's `/slots`, read when the oracle decides.

    A blocking read on loopback (about a millisecond per server) inside the decision, as the
    emulator's oracle reads its state: the truth at that instant, not a poll's stale copy."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self._urls = dict(urls)
        self._client = httpx.Client(timeout=2.0)
        self._rates: dict[str, tuple[float, float, float]] = {}  # host -> (read at, prefill tok/s, decode tok/s)

    def __enter__(self) -> ServersTruth:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def predicted_ttft_s(self, host: str, model: str, prompt_tokens: int) -> float | None:
        try:
            slots = self._client.get(f"{self._urls[host]}/slots").json()
            prefill_tps, decode_tps = self._rates_of(host)
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        own_prefill = prompt_tokens / prefill_tps
        busy = [slot for slot in slots if slot.get("is_processing")]
        if len(busy) < len(slots):
            return own_prefill
        return own_prefill + min(self._work_left_s(slot, prefill_tps, decode_tps) for slot in busy)

    @staticmethod
    def _work_left_s(slot: Mapping[str, Any], prefill_tps: float, decode_tps: float) -> float:
        prompt_left = max(0, int(slot.get("n_prompt_tokens", 0)) - int(slot.get("n_prompt_tokens_processed", 0)))
        progress = (slot.get("next_token") or [{}])[0]
        answer_left = max(0, int(progress.get("n_remain", 0)))
        return prompt_left / prefill_tps + answer_left / decode_tps

    def _rates_of(self, host: str) -> tuple[float, float]:
        now = time.monotonic()
        cached = self._rates.get(host)
        if cached is not None and now - cached[0] < RATES_FRESH_S:
            return cached[1], cached[2]
        counters = _prometheus_values(self._client.get(f"{self._urls[host]}/metrics").text)
        prefill = _rate(counters, "llamacpp:prompt_tokens_total", "llamacpp:prompt_seconds_total", SEED_PREFILL_TPS)
        decode = _rate(counters, "llamacpp:tokens_predicted_total", "llamacpp:tokens_predicted_seconds_total", SEED_DECODE_TPS)
        self._rates[host] = (now, prefill, decode)
        return prefill, decode


def _prometheus_values(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


def _rate(counters: Mapping[str, float], tokens: str, seconds: str, seed: float) -> float:
    spent = counters.get(seconds, 0.0)
    return counters.get(tokens, 0.0) / spent if spent > 0 else seed

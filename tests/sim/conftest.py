"""Emulated fleets with small, controlled latencies so the suite stays fast."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import ollama
import pytest_asyncio

from zeta_console.sim import FleetSpec, HostSpec, ModelProfile, SimFleet, default_fleet_spec, run_fleet
from zeta_console.sim.profiles import CODER, EMBEDDER, REASONER

FAST = 20.0  # time_scale of the shared fleet: the default profiles, 20x faster


def fleet_with(*models: ModelProfile, time_scale: float = 1.0, **host: object) -> FleetSpec:
    return FleetSpec(hosts=(HostSpec(name="local", models=models, **host),), time_scale=time_scale)  # type: ignore[arg-type]


def paced(profile: ModelProfile, *, load_s: float = 0.0, decode_tps: float = 200.0, prefill_tps: float = 100_000.0) -> ModelProfile:
    """A profile with latencies small enough for tests but large enough to measure."""
    return replace(profile, load_s=load_s, decode_tps=decode_tps, prefill_tps=prefill_tps)


@pytest_asyncio.fixture
async def fleet() -> AsyncIterator[SimFleet]:
    async with run_fleet(default_fleet_spec(time_scale=FAST)) as running:
        yield running


@pytest_asyncio.fixture
async def client(fleet: SimFleet) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=fleet.host("local").url) as async_client:
        yield async_client


__all__ = ["CODER", "EMBEDDER", "REASONER", "fleet_with", "paced"]

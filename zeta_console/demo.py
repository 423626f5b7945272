"""Settings for a simulated fleet: the console, `route` and `serve` all run `--demo` through here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Protocol

from zeta_console.settings import HostConfig, Settings
from zeta_console.sim import FleetSpec, SimFleet, default_fleet_spec, run_fleet, zero_latency_profile


class _FleetHost(Protocol):
    @property
    def url(self) -> str: ...


class RunningFleet(Protocol):
    def host(self, name: str) -> _FleetHost: ...


def demo_settings(fleet: RunningFleet, base: Settings | None = None) -> Settings:
    """`base` (default: the built-in settings) with every host pointing at the running fleet."""
    base = base or Settings()
    hosts = tuple(HostConfig(host.name, fleet.host(host.name).url) for host in base.hosts)
    return replace(base, hosts=hosts, source="<demo fleet>")


@asynccontextmanager
async def demo_fleet(time_scale: float = 1.0, base: Settings | None = None) -> AsyncIterator[tuple[SimFleet, Settings]]:
    """Start the default emulated fleet in the running loop; yield it with settings that use it."""
    spec = replace(default_fleet_spec(), time_scale=time_scale)
    async with run_fleet(spec) as fleet:
        yield fleet, demo_settings(fleet, base)


def zero_latency_fleet_spec() -> FleetSpec:
    """The default fleet with every delay at zero: for overhead measurements and load tests."""
    spec = default_fleet_spec()
    hosts = tuple(
        replace(host, models=tuple(zero_latency_profile(model.name, model.capabilities) for model in host.models)) for host in spec.hosts
    )
    return replace(spec, hosts=hosts)

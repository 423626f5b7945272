"""The demo fleets: the console, `route` and `serve` all run `--demo` and `--demo real` through here.

`--demo` is the emulated fleet (`demo_fleet`); `--demo real` (`real_demo_fleet`) runs two real
llama.cpp servers of the tiny model as the coder and reasoner tiers, beside an emulated embedder.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import httpx

from zeta_console.config import xdg_dir
from zeta_console.router.endpoint import Endpoint, configured_endpoints
from zeta_console.settings import HostConfig, ModelConfig, Settings
from zeta_console.sim import FleetSpec, HostSpec, SimFleet, default_fleet_spec, run_fleet, zero_latency_profile
from zeta_console.sim.profiles import EMBEDDER

REAL_SOURCE = "<real demo fleet>"
# The real demo's hosts: each llama.cpp server is one tier (one thread, one slot: two servers share
# two cores), so routing by task and spilling under load both show; the embedder stays emulated.
REAL_TIERS = {"coder": "llama-a", "reasoner": "llama-b"}
EMBEDDER_HOST = "sim"


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


class DemoWarmUp:
    """The emulated demo loads its models before its background traffic starts, as an operator preloads
    Ollama's: a load-only request per model, the model named alone (`/api/generate`, `/api/embed` for an
    embedder; ollama-api.md §1.3). Cold, the traffic's first requests queued behind three loads (~10 s, one
    at a time), the cards read DEGRADED (queue 5 > 4) and the router shed some of them: the demo's first
    seconds showed a broken fleet. The router sees the loads as the fleet shows them (`/api/ps`), and the
    cards say which models the demo is loading (`loading`)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._endpoints = configured_endpoints(settings)
        self._loading = set(self._endpoints)

    def loading(self, endpoint_id: str) -> bool:
        return endpoint_id in self._loading

    async def run(self) -> None:
        """Load every model on every host at once (the emulator, as Ollama, loads one at a time); a load that
        fails leaves that model cold: its first request loads it, as it would have anyway."""
        timeout = httpx.Timeout(self._settings.timeouts.total_s, connect=self._settings.timeouts.connect_s)
        async with httpx.AsyncClient(timeout=timeout) as client:
            await asyncio.gather(*(self._load(client, endpoint) for endpoint in self._endpoints.values()))

    async def _load(self, client: httpx.AsyncClient, endpoint: Endpoint) -> None:
        embedder = "embedding" in self._settings.model(endpoint.tier).capabilities
        try:
            await client.post(endpoint.url + ("/api/embed" if embedder else "/api/generate"), json={"model": endpoint.model})
        except httpx.HTTPError:
            pass
        finally:
            self._loading.discard(endpoint.id)


@dataclass(frozen=True)
class Demo:
    settings: Settings  # pointing at the running fleet
    fleet: SimFleet  # the emulated hosts: all of them, or only the embedder's in the real demo
    emulated: bool  # every host is the emulator (faults can be injected)


@asynccontextmanager
async def open_demo(
    *, real: bool = False, base: Settings | None = None, time_scale: float = 1.0, report: Callable[[str], None] | None = None
) -> AsyncIterator[Demo]:
    """`--demo` (emulated, at `time_scale`) or `--demo real`; `report` hears what a first real run fetches."""
    if real:
        async with real_demo_fleet(base, report) as demo:
            yield demo
    else:
        async with demo_fleet(time_scale=time_scale, base=base) as (fleet, settings):
            yield Demo(settings, fleet, emulated=True)


def to_stderr(line: str) -> None:
    print(f"zeta-console: {line}", file=sys.stderr, flush=True)


def real_demo_settings(urls: dict[str, str], embedder_url: str, model: str, base: Settings | None = None) -> Settings:
    """`base` over the real demo's hosts: `urls` maps each llama.cpp host to its URL."""
    base = base or Settings()
    embedder = base.model("embedder")
    hosts = (*(HostConfig(host, url, api="openai") for host, url in urls.items()), HostConfig(EMBEDDER_HOST, embedder_url))
    models = (
        *(ModelConfig(tier, model, (host,), frozenset({"completion"})) for tier, host in REAL_TIERS.items()),
        replace(embedder, model=EMBEDDER.name, hosts=(EMBEDDER_HOST,)),
    )
    return replace(base, hosts=hosts, models=models, source=REAL_SOURCE)


def demo_log_dir() -> Path:
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "zeta-console" / "demo-real"


@asynccontextmanager
async def real_demo_fleet(base: Settings | None = None, report: Callable[[str], None] | None = None) -> AsyncIterator[Demo]:
    """Two real llama.cpp servers of the tiny model (fetched first if the cache lacks it) and the
    emulated embedder; every server is stopped when the block ends, however it ends."""
    from zeta_console.realfleet.llama_server import LlamaServer, LlamaServerOptions, require_xllamacpp, start_together
    from zeta_console.realfleet.tiny_model import SMOLLM2, ensure_model

    require_xllamacpp("--demo real")
    model = await asyncio.to_thread(ensure_model, SMOLLM2, report)
    logs = demo_log_dir()
    logs.mkdir(parents=True, exist_ok=True)
    servers = {host: LlamaServer(LlamaServerOptions(model, SMOLLM2.name), log_path=logs / f"{host}.log") for host in REAL_TIERS.values()}
    async with AsyncExitStack() as stack:
        await start_together(servers.values(), stack)
        fleet = await stack.enter_async_context(run_fleet(FleetSpec(hosts=(HostSpec(name=EMBEDDER_HOST, models=(EMBEDDER,)),))))
        urls = {host: server.url for host, server in servers.items()}
        settings = real_demo_settings(urls, fleet.host(EMBEDDER_HOST).url, SMOLLM2.name, base)
        yield Demo(settings, fleet, emulated=False)

"""A router over an emulated fleet: real HTTP on loopback, the official client, no fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ollama

from tests.helpers import wait_until
from zeta_console.backends.types import BackendError
from zeta_console.benchmark.settings_scale import scaled_settings
from zeta_console.composition import build_router
from zeta_console.demo import demo_settings
from zeta_console.journal import Journal
from zeta_console.router.api import RequestRecord, RouterEvent
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Adaptive, Breaker, HostConfig, Settings, Task
from zeta_console.sim import FleetSpec, HostSpec, default_fleet_spec, run_fleet
from zeta_console.sim.profiles import CODER, EMBEDDER, REASONER

FAST = 50.0  # the emulated models run this many times faster than real ones
QUICK_BREAKER = Breaker(consecutive_failures=3)
# Two hosts that both serve the coder ("a" also the embedder and the reasoner), routed with exploration off.
TWO_CODERS = FleetSpec(hosts=(HostSpec(name="a", models=(CODER, EMBEDDER, REASONER)), HostSpec(name="b", models=(CODER,))))


def two_coder_settings() -> dict[str, Any]:
    """`routed`'s changes for TWO_CODERS: the coder on both hosts, every other tier on "a", no exploring."""
    base = Settings()
    models = tuple(replace(model, hosts=("a", "b") if model.tier == "coder" else ("a",)) for model in base.models)
    return {"hosts": (HostConfig("a", ""), HostConfig("b", "")), "models": models, "adaptive": Adaptive(explore_rate=0.0)}


@dataclass
class Routed:
    fleet: Any  # the running emulator fleet
    settings: Settings
    router: ZetaDynamicRouter
    events: list[RouterEvent]
    journal: Journal | None

    def records(self) -> list[RequestRecord]:
        return [event for event in self.events if isinstance(event, RequestRecord)]


@asynccontextmanager
async def routed(
    spec: FleetSpec | None = None,
    *,
    time_scale: float = FAST,
    journal_path: Path | None = None,
    health_poll_s: float = 0.2,
    **changes: Any,
) -> AsyncIterator[Routed]:
    """Start a fleet and a router over it, every duration in the settings scaled like the fleet;
    `changes` replace fields of the default Settings (before scaling)."""
    spec = replace(spec or default_fleet_spec(), time_scale=time_scale)
    async with run_fleet(spec) as fleet:
        base = replace(Settings(), breaker=QUICK_BREAKER, **changes)
        settings = scaled_settings(demo_settings(fleet, base), time_scale)
        journal = Journal(journal_path) if journal_path else None
        events: list[RouterEvent] = []
        try:
            async with build_router(settings, journal=journal, health_poll_s=health_poll_s, time_scale=time_scale, seed=1) as router:
                router.subscribe(events.append)
                yield Routed(fleet, settings, router, events, journal)
        finally:
            if journal is not None:
                journal.close()


async def load_both_coders(run: Routed) -> None:
    """Load the coder on both of TWO_CODERS' hosts, as on a fleet that has been up a while, until the router sees it."""
    for host in ("a", "b"):
        async with ollama.AsyncClient(host=run.fleet.host(host).url) as client:
            await client.generate(model=CODER.name)
    await wait_until(lambda: all(e.resident for e in run.router.snapshot().endpoints if e.tier == "coder"), message="both coders resident")


def ask(text: str, task: Task | None = None, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], task=task, **fields)


async def answer(router: ZetaDynamicRouter, request: ChatRequest) -> tuple[str, RequestRecord]:
    """Run a chat to its end; return the concatenated text and its record (also when it failed)."""
    parts: list[str] = []
    async with router.chat(request) as stream:
        try:
            async for chunk in stream:
                parts.append(chunk.content)
        except BackendError:
            pass
    assert stream.record is not None
    return "".join(parts), stream.record


def counters_are_zero(router: ZetaDynamicRouter) -> bool:
    slots = router.slots
    return not any(slots.in_flight.values()) and not any(slots.queued.values()) and not any(slots.wanted.values())


def chosen_tiers(records: Sequence[RequestRecord]) -> list[str]:
    return [record.endpoint.split("@")[0] for record in records if record.endpoint]



def best_scored(record: RequestRecord) -> str:
    """The endpoint the policy ranked first (the choice unless it explored)."""
    return min((c for c in record.decision.candidates if c.excluded is None), key=lambda c: c.score).endpoint


def other_models_spec() -> FleetSpec:
    """A host serving none of the default models, as a newcomer's Ollama might: `nomic-embed-text`
    is reported with its `:latest` tag, as Ollama reports a model pulled without one."""
    models = (
        replace(CODER, name="llama3.1:8b", family="llama", parameter_size="8.0B", capabilities=("completion", "tools")),
        replace(EMBEDDER, name="nomic-embed-text:latest", family="nomic-bert", parameter_size="137M"),
        replace(REASONER, name="deepseek-r1:14b", family="qwen2", capabilities=("completion", "thinking")),
    )
    return FleetSpec(hosts=(HostSpec(name="local", models=models),))

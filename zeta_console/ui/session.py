"""Everything the console runs against, gathered in one object built by `launch` (or a test).

The console uses the router through `router.api.Router`: it observes it (snapshots, events),
commands it (`router.controls`) and sends prompts (`chat`/`embed`). Demo mode adds fault injection, the load
generator and its models' warm-up; frozen mode (snapshot tests, development) fixes the clock and turns timers off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from zeta_console.rate_meter import RateMeter
from zeta_console.router.api import RequestRecord, Router, RouterEvent
from zeta_console.settings import Settings

SIMULATED_BADGE = "SIMULATED"
REAL_BADGE = "REAL · tiny models"


class FaultKind(StrEnum):
    SLOW = "slow"  # latency x5
    FAIL = "fail"  # every request errors
    HOST_DOWN = "host_down"  # the whole simulated host refuses connections
    CLEAR = "clear"  # back to normal


FAULT_LABELS: Mapping[FaultKind, str] = {
    FaultKind.SLOW: "slow down 5×",
    FaultKind.FAIL: "make it fail",
    FaultKind.HOST_DOWN: "take its host down for 30 s",
    FaultKind.CLEAR: "clear faults",
}


class FaultInjector(Protocol):
    """Demo only: break a simulated endpoint on purpose."""

    def targets(self) -> Sequence[str]: ...  # endpoint ids, "tier@host"
    async def inject(self, endpoint_id: str, fault: FaultKind) -> str: ...  # returns what was done, for the log


class WarmUp(Protocol):
    """Demo only: the models the demo is loading before its background traffic starts."""

    def loading(self, endpoint_id: str) -> bool: ...


class LoadControl(Protocol):
    @property
    def rate_per_s(self) -> float: ...
    def set_rate(self, rate_per_s: float) -> None: ...


class SettingsStore(Protocol):
    """Where operator changes persist: the overrides file layered over the config."""

    def save(self, changes: Mapping[str, Any]) -> Path: ...
    def clear(self) -> Path | None: ...


@dataclass
class Serving:
    """`--listen`: the address the console serves Ollama's API on, and that endpoint's request rate."""

    listen: str  # as asked for (--listen)
    url: str | None = None  # set once the endpoint listens (the port may have been 0)
    clock: Callable[[], float] = time.monotonic
    _rate: RateMeter = field(default_factory=RateMeter)

    def observe(self, event: RouterEvent) -> None:
        """A router listener: counts the requests that came in through the endpoint (`serve:` clients)."""
        if isinstance(event, RequestRecord) and event.decision.client.startswith("serve:"):
            self._rate.add(self.clock())

    def requests_per_s(self) -> float:
        return self._rate.per_second(self.clock())


@dataclass
class ConsoleSession:
    router: Router
    settings: Settings
    clock: Callable[[], float] = time.time
    tz: tzinfo | None = None  # None = local time
    frozen: bool = False
    simulated: bool = False  # the emulated demo fleet
    real_fleet: bool = False  # `--demo real`: real llama.cpp servers of a tiny model
    faults: FaultInjector | None = None
    loadgen: LoadControl | None = None
    warm_up: WarmUp | None = None
    store: SettingsStore | None = None
    start: Callable[[], Coroutine[Any, Any, None]] | None = None  # run by the app in a worker, so the first frame never waits
    looked_at: tuple[str, ...] = field(default_factory=tuple)  # Ollama URLs, for the "not reachable" banner
    serving: Serving | None = None  # --listen

    @property
    def fleet_badge(self) -> str:
        """What the header says of a demo fleet ("" for the operator's own)."""
        return REAL_BADGE if self.real_fleet else SIMULATED_BADGE if self.simulated else ""

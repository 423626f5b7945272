"""Demo mode: the console's FaultInjector over the in-process emulator fleet."""

from __future__ import annotations

from typing import Protocol

from zeta_console.router.api import Router
from zeta_console.sim import Fault
from zeta_console.ui.session import FaultKind

SLOW_FACTOR = 5.0
HOST_DOWN_S = 30.0  # a downed host comes back by itself, so the demo shows recovery too


class SimHost(Protocol):
    @property
    def up(self) -> bool: ...
    def set_fault(self, model: str, fault: Fault) -> None: ...
    def clear_faults(self, model: str | None = None) -> None: ...
    def down_for(self, seconds: float) -> None: ...
    async def host_up(self) -> None: ...


class SimFleet(Protocol):
    def host(self, name: str) -> SimHost: ...


class SimulatedFaults:
    def __init__(self, fleet: SimFleet, router: Router) -> None:
        self._fleet = fleet
        self._router = router

    def targets(self) -> list[str]:
        return [endpoint.id for endpoint in self._router.snapshot().endpoints]

    async def inject(self, endpoint_id: str, fault: FaultKind) -> str:
        endpoint = next(item for item in self._router.snapshot().endpoints if item.id == endpoint_id)
        host = self._fleet.host(endpoint.host)
        if fault is FaultKind.SLOW:
            host.set_fault(endpoint.model, Fault(slow_factor=SLOW_FACTOR))
            return f"{endpoint.model} on {endpoint.host} runs {SLOW_FACTOR:g}× slower"
        if fault is FaultKind.FAIL:
            host.set_fault(endpoint.model, Fault(error_rate=1.0))
            return f"{endpoint.model} on {endpoint.host} fails every request"
        if fault is FaultKind.HOST_DOWN:
            host.down_for(HOST_DOWN_S)
            return f"host {endpoint.host} is down for {HOST_DOWN_S:g}s (every model on it)"
        host.clear_faults(endpoint.model)
        if not host.up:
            await host.host_up()
        return f"{endpoint.model} on {endpoint.host}: faults cleared, host up"

"""Demo mode: the console's FaultInjector over the in-process emulator fleet."""

from __future__ import annotations

from typing import Any

from zeta_console.ui.session import FaultKind

SLOW_FACTOR = 5.0


class SimulatedFaults:
    def __init__(self, fleet: Any, router: Any) -> None:
        self._fleet = fleet
        self._router = router

    def targets(self) -> list[str]:
        return list(self._router.endpoint_ids)

    def inject(self, endpoint: str, fault: FaultKind) -> str:
        raise NotImplementedError  # written against the emulator's fault API when it lands

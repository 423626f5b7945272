"""Time series for the charts screen: bounded deques filled from snapshots, Textual-free."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from zeta_console.router.api import RouterSnapshot


@dataclass(frozen=True)
class Sample:
    at: float
    ttft_p95_s: float | None
    latency_p95_s: float | None


class SeriesStore:
    def __init__(self, capacity: int = 3600) -> None:
        self.capacity = capacity
        self._series: dict[str, deque[Sample]] = {}
        self._labels: dict[str, str] = {}

    def record(self, snapshot: RouterSnapshot) -> None:
        for endpoint in snapshot.endpoints:
            series = self._series.setdefault(endpoint.id, deque(maxlen=self.capacity))
            if series and series[-1].at >= snapshot.taken_at:
                continue
            self._labels[endpoint.id] = f"{endpoint.tier} ({endpoint.model})"
            series.append(Sample(snapshot.taken_at, endpoint.ttft_p95_s, endpoint.latency_p95_s))

    def window(self, endpoint: str, since: float) -> list[Sample]:
        return [sample for sample in self._series.get(endpoint, ()) if sample.at >= since]

    def endpoints(self) -> list[str]:
        return list(self._series)

    def label(self, endpoint: str) -> str:
        return self._labels.get(endpoint, endpoint)

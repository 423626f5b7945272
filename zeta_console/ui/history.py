"""Time series for the charts screen: bounded deques filled from snapshots, Textual-free."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from zeta_console.router.api import RouterSnapshot

SAMPLE_EVERY_S = 1.0  # the screen refreshes at 4-10 Hz; a chart point a second is enough
HISTORY_S = 1800  # the widest chart window


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    ttft_p95_s: float | None
    latency_p95_s: float | None


class SeriesStore:
    def __init__(self, history_s: float = HISTORY_S, every_s: float = SAMPLE_EVERY_S) -> None:
        self.every_s = every_s
        self.capacity = int(history_s / every_s)
        self._series: dict[str, deque[Sample]] = {}
        self._labels: dict[str, str] = {}

    def record(self, snapshot: RouterSnapshot) -> None:
        for endpoint in snapshot.endpoints:
            series = self._series.setdefault(endpoint.id, deque(maxlen=self.capacity))
            if series and snapshot.taken_at - series[-1].at < self.every_s:
                continue
            self._labels[endpoint.id] = f"{endpoint.tier} ({endpoint.model})"
            series.append(Sample(snapshot.taken_at, endpoint.ttft_p95_s, endpoint.latency_p95_s))

    def window(self, endpoint: str, since: float) -> list[Sample]:
        return [sample for sample in self._series.get(endpoint, ()) if sample.at >= since]

    def endpoints(self) -> list[str]:
        return list(self._series)

    def label(self, endpoint: str) -> str:
        return self._labels.get(endpoint, endpoint)

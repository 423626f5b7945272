"""The load generator every contender shares: replay a trace at its arrival instants.

Each contender (a Zeta policy, a LiteLLM strategy) gets a fresh emulator fleet and the very
same trace; only the object that routes a request differs. The generator fires each request at
`at_s / time_scale` wall seconds after the start without waiting for earlier ones (open loop),
and stops waiting at a deadline: whatever has not answered by then is counted as lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from zeta_console.benchmark.results import Calibration, ContenderRun, Fate, RequestResult
from zeta_console.benchmark.stats import percentile
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.settings import Task

TOKEN_TEXT = "tok "  # four characters: one token by the router's and the emulator's estimate
LAG_PROBE_INTERVAL_S = 0.01


@dataclass(frozen=True)
class Served:
    """What a contender observed for one request, in wall seconds."""

    fate: Fate
    endpoint: str | None = None
    ttft_s: float | None = None
    total_s: float | None = None
    fallbacks: int = 0
    failed_after_first_token: bool = False
    error: str | None = None
    calibration: Calibration | None = None  # the router's prediction for the endpoint it chose, and what it measured


class Contender(Protocol):
    name: str

    async def serve(self, request: TraceRequest) -> Served: ...


def prompt_text(tokens: int) -> str:
    return TOKEN_TEXT * tokens


async def _measure_loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        expected = time.perf_counter() + LAG_PROBE_INTERVAL_S
        await asyncio.sleep(LAG_PROBE_INTERVAL_S)
        samples.append(max(0.0, time.perf_counter() - expected))


async def replay(
    contender: Contender,
    trace: Sequence[TraceRequest],
    *,
    scenario: str,
    duration_s: float,
    time_scale: float,
    drain_s: float,
    preferred_tiers: Mapping[Task, str],
) -> ContenderRun:
    """Replay `trace` (scenario seconds) and wait up to `drain_s` scenario seconds after its end."""
    started = time.perf_counter()
    deadline = started + (duration_s + drain_s) / time_scale
    lags: list[float] = []
    stop_probe = asyncio.Event()
    probe = asyncio.create_task(_measure_loop_lag(lags, stop_probe))

    async def fire(request: TraceRequest) -> Served:
        await asyncio.sleep(max(0.0, started + request.at_s / time_scale - time.perf_counter()))
        try:
            return await asyncio.wait_for(contender.serve(request), timeout=max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            return Served(Fate.LOST, error="no answer before the run's deadline")

    try:
        served = await asyncio.gather(*(fire(request) for request in trace))
    finally:
        stop_probe.set()
        await probe
    lag = percentile(lags, 99)
    return ContenderRun(
        contender=contender.name,
        scenario=scenario,
        time_scale=time_scale,
        duration_s=duration_s,
        wall_s=time.perf_counter() - started,
        loop_lag_p99_ms=lag * 1000 if lag is not None else None,
        results=tuple(
            _to_scenario_time(request, outcome, time_scale, preferred_tiers) for request, outcome in zip(trace, served, strict=True)
        ),
    )


def _to_scenario_time(request: TraceRequest, served: Served, time_scale: float, preferred_tiers: Mapping[Task, str]) -> RequestResult:
    def scaled(seconds: float | None) -> float | None:
        return seconds * time_scale if seconds is not None else None

    return RequestResult(
        index=request.index,
        task=request.task,
        at_s=request.at_s,
        fate=served.fate,
        preferred_tier=preferred_tiers[request.task],
        endpoint=served.endpoint,
        ttft_s=scaled(served.ttft_s),
        total_s=scaled(served.total_s),
        fallbacks=served.fallbacks,
        failed_after_first_token=served.failed_after_first_token,
        error=served.error,
        calibration=served.calibration.scaled(time_scale) if served.calibration else None,
    )

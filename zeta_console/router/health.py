"""Endpoint health: circuit breakers fed by real traffic, and a poll loop that confirms hosts.

Passive signals drive ejection (transport errors, 5xx, deadline misses; a 503 is load, not a
failure). An ejected endpoint sits out `base x times ejected` seconds (capped), then one real
request is let through as the half-open probe and decides its return. The last capable
endpoint of a route is never ejected: the router answers that question (`may_eject`).
The poll loop (`/api/version`, `/api/ps`, `/api/tags`, host CPU/RAM/GPU) confirms reachability,
residency and which models each host has installed, and reads the server's own load gauges where
it has them (`queue_signals`: llama.cpp, vLLM, SGLang; a failed read is unknown, not idle); it
re-arms itself after each round, so rounds never overlap.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import psutil

from zeta_console.backends.registry import Backends
from zeta_console.backends.types import BackendError, QueueSignals, ResidentModel
from zeta_console.ollama_api.names import canonical_name
from zeta_console.router.api import ErrorKind, HostResources
from zeta_console.settings import Breaker

log = logging.getLogger(__name__)

FAILURE_KINDS = frozenset(
    {ErrorKind.UNAVAILABLE, ErrorKind.TIMED_OUT, ErrorKind.SERVER_ERROR, ErrorKind.FAILED_MID_STREAM, ErrorKind.NOT_FOUND}
)
LOCAL_HOSTNAMES = frozenset({"127.0.0.1", "localhost", "::1"})
PROBE_TIMEOUT_S = 2.0
REFRESH_GAP_S = 0.5


@dataclass
class BreakerState:
    consecutive_failures: int = 0
    times_ejected: int = 0
    open_until: float | None = None  # monotonic; None = closed
    probe_in_flight: bool = False
    manual: bool = False  # ejected by the operator: stays out until restored
    reason: str = ""


class CircuitBreakers:
    """One breaker per endpoint. Times are `time.monotonic()` seconds."""

    def __init__(self, config: Breaker, endpoints: list[str], may_eject: Callable[[str], bool]) -> None:
        self.config = config
        self._may_eject = may_eject
        self._states = {endpoint: BreakerState() for endpoint in endpoints}

    def state(self, endpoint: str) -> BreakerState:
        return self._states[endpoint]

    def is_out(self, endpoint: str, now: float) -> bool:
        """Ejected: no request may go there now (a free half-open probe counts as in)."""
        state = self._states[endpoint]
        if state.manual:
            return True
        if state.open_until is None:
            return False
        return now < state.open_until or state.probe_in_flight

    def ejected_for_s(self, endpoint: str, now: float) -> float | None:
        state = self._states[endpoint]
        if state.manual or state.open_until is None:
            return None
        return max(0.0, state.open_until - now)

    def on_dispatch(self, endpoint: str, now: float) -> bool:
        """A request goes to `endpoint`; True when it is the half-open probe."""
        state = self._states[endpoint]
        if state.open_until is not None and now >= state.open_until and not state.probe_in_flight:
            state.probe_in_flight = True
            return True
        return False

    def on_success(self, endpoint: str, now: float) -> None:
        state = self._states[endpoint]
        state.consecutive_failures = 0
        if state.open_until is not None and state.probe_in_flight:
            state.open_until = None
            state.probe_in_flight = False
            state.reason = "half-open probe succeeded"

    def on_abandoned(self, endpoint: str, was_probe: bool) -> None:
        """A request ended without a verdict (cancelled, bad request): free the probe slot."""
        if was_probe:
            self._states[endpoint].probe_in_flight = False

    def on_failure(self, endpoint: str, kind: ErrorKind, now: float) -> bool:
        """Count a failure; True when the endpoint was ejected by it."""
        if kind not in FAILURE_KINDS:
            return False
        state = self._states[endpoint]
        state.consecutive_failures += 1
        if state.probe_in_flight:
            state.probe_in_flight = False
            self._open(state, now, f"half-open probe failed ({kind.value})")
            return True
        if state.open_until is not None or state.consecutive_failures < self.config.consecutive_failures:
            return False
        if not self._may_eject(endpoint):
            state.reason = f"{state.consecutive_failures} consecutive failures; kept: last capable endpoint of a route"
            return False
        self._open(state, now, f"{state.consecutive_failures} consecutive failures (last: {kind.value})")
        return True

    def _open(self, state: BreakerState, now: float, reason: str) -> None:
        state.times_ejected += 1
        duration = min(self.config.base_ejection_s * state.times_ejected, self.config.max_ejection_s)
        state.open_until = now + duration
        state.reason = reason

    def eject(self, endpoint: str) -> None:
        state = self._states[endpoint]
        state.manual = True
        state.reason = "ejected by the operator"

    def restore(self, endpoint: str) -> None:
        self._states[endpoint] = BreakerState(times_ejected=self._states[endpoint].times_ejected, reason="restored by the operator")


@dataclass
class HostState:
    reachable: bool | None = None  # None = not probed yet
    reason: str = "not probed yet"
    version: str | None = None
    resident: Mapping[str, ResidentModel] = field(default_factory=dict)  # model name -> /api/ps row
    resources: HostResources = field(default_factory=lambda: HostResources(None, None))
    probed_at: float | None = None  # monotonic
    # /api/tags of the last round, canonical name -> name as reported; None = unknown (not read, or unreadable)
    installed: Mapping[str, str] | None = None
    # The server's own gauges at `signals_at` (monotonic), when this router had `own_at_signals` requests
    # in flight there; None = it has none. A failed read leaves them unknown (`QueueSignals.known` False).
    signals: QueueSignals | None = None
    signals_at: float | None = None
    own_at_signals: int = 0


def _unknown(last: QueueSignals | None) -> QueueSignals | None:
    """Gauges that could not be read: unknown figures from the same kind of server (None if it has none)."""
    return None if last is None else QueueSignals(server=last.server)


# Cached: the health checks of every decision match each endpoint's configured model name.
canonical = functools.lru_cache(maxsize=1024)(canonical_name)


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTNAMES


class HealthMonitor:
    """Polls every host; round after round, never two at once."""

    def __init__(
        self,
        backends: Backends,
        host_urls: Mapping[str, str],
        interval_s: float,
        on_round: Callable[[], None],
        own_in_flight: Callable[[str], int] = lambda host: 0,
        notes: Mapping[str, str] | None = None,
    ) -> None:
        """`own_in_flight(host)`: this router's requests in flight on a host, noted with each reading of
        its gauges so that readers can add what the router sent since (the gauges lag by a round).
        `notes`: per host, what its configuration lacks, added to its reason whatever the probe finds."""
        self._backends = backends
        self._notes = notes or {}
        self._own_in_flight = own_in_flight
        self._local = {name for name, url in host_urls.items() if is_local(url)}
        self.interval_s = interval_s
        self._on_round = on_round
        self.hosts: dict[str, HostState] = {name: HostState() for name in host_urls}
        self._task: asyncio.Task[None] | None = None
        self._gpu = shutil.which("nvidia-smi")
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    @property
    def signals_fresh_s(self) -> float:
        """How long a reading of a server's gauges stands for its load: three rounds (and a probe's timeout)."""
        return 3 * self.interval_s + PROBE_TIMEOUT_S

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="zeta-health")

    async def stop(self) -> None:
        tasks = [task for task in (self._task, *self._refreshing.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:  # a poll bug must not stop health checking
                log.exception("health poll failed")
            await asyncio.sleep(self.interval_s)

    async def poll_once(self) -> None:
        gpu = await self._sample_gpu()
        await asyncio.gather(*(self._probe(name) for name in self.hosts))
        for name in self._local:
            self.hosts[name].resources = HostResources(
                cpu_percent=psutil.cpu_percent(interval=None),
                memory_percent=psutil.virtual_memory().percent,
                gpu_percent=gpu[0] if gpu else None,
                gpu_memory_percent=gpu[1] if gpu else None,
            )
        self._on_round()

    def refresh_soon(self, name: str) -> None:
        """Probe `name` again shortly, between rounds: a model was just used, so /api/ps changed
        (loaded, new expiry). At most one refresh per host at a time, `REFRESH_GAP_S` apart."""
        if name not in self._refreshing:
            self._refreshing[name] = asyncio.get_running_loop().create_task(self._refresh(name), name=f"zeta-health-{name}")

    async def _refresh(self, name: str) -> None:
        try:
            await self._probe(name, read_installed=False)
            await asyncio.sleep(REFRESH_GAP_S)
        finally:
            del self._refreshing[name]

    async def _probe(self, name: str, read_installed: bool = True) -> None:
        """`read_installed`: also read /api/tags (each round; a refresh after a request only needs /api/ps)."""
        backend = self._backends[name]
        host = self.hosts[name]
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                host.version = await backend.version()
                rows = await backend.loaded()
        except (BackendError, TimeoutError) as error:
            host.reachable = False
            host.reason = self._noted(name, error.message if isinstance(error, BackendError) else "health probe timed out")
            host.resident = {}
            host.installed = None
            self._note_signals(name, _unknown(host.signals))
        else:
            host.reachable = True
            host.reason = self._noted(name, host.version)
            host.resident = {row.model: row for row in rows}
            if read_installed:
                host.installed = await self._read_installed(name)
            self._note_signals(name, await self._read_signals(name))
        host.probed_at = time.monotonic()

    def _noted(self, name: str, reason: str) -> str:
        note = self._notes.get(name)
        return f"{reason} · {note}" if note else reason

    async def _read_signals(self, name: str) -> QueueSignals | None:
        """The server's own gauges; a read that fails or hangs is unknown (never idle)."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                return await self._backends[name].queue_signals()
        except (BackendError, TimeoutError) as error:
            log.debug("cannot read the load gauges of %s: %s", name, error)
            return _unknown(self.hosts[name].signals)

    def _note_signals(self, name: str, signals: QueueSignals | None) -> None:
        host = self.hosts[name]
        host.signals = signals
        host.signals_at = time.monotonic()
        host.own_at_signals = self._own_in_flight(name)

    async def _read_installed(self, name: str) -> Mapping[str, str] | None:
        """The host's /api/tags; None when it cannot be read (then no model counts as missing)."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                models = await self._backends[name].installed()
        except (BackendError, TimeoutError) as error:
            log.warning("cannot list the models of %s: %s", name, error)
            return None
        return {canonical(model.name): model.name for model in models}

    def is_installed(self, host: str, model: str) -> bool | None:
        """Whether `host` has `model` pulled, matched as Ollama matches names; None = unknown."""
        installed = self.hosts[host].installed
        return None if installed is None else canonical(model) in installed

    def server_kind(self, host: str) -> str:
        """What the host runs, as people call it: what its gauges name ("llama.cpp"), else what its backend knows of it."""
        signals = self.hosts[host].signals
        return signals.server if signals is not None and signals.server else self._backends[host].server_label()

    def missing_reason(self, host: str, model: str) -> str:
        """The advice for a configured model the host does not have."""
        installed = self.hosts[host].installed or {}
        has = f"it has {', '.join(installed.values())}" if installed else "it has no models"
        return f"not installed on {host} ({has}): {self._backends[host].missing_advice(model)}"

    def residency(self, host: str, model: str) -> ResidentModel | Literal[False] | None:
        """The /api/ps row of `model` on `host`; False = not resident; None = unknown (not probed)."""
        state = self.hosts[host]
        if not state.reachable:
            return None
        wanted = canonical(model)
        for reported, row in state.resident.items():
            if canonical(reported) == wanted:
                return row
        return False

    async def _sample_gpu(self) -> tuple[float, float] | None:
        """(utilisation %, memory used %) averaged over GPUs, via nvidia-smi when installed."""
        if self._gpu is None:
            return None
        try:
            process = await asyncio.create_subprocess_exec(
                self._gpu, "--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            return None
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                output, _ = await process.communicate()
            rows = [[float(value) for value in line.split(",")] for line in output.decode().splitlines() if line.strip()]
        except (ValueError, TimeoutError):
            return None
        finally:
            if process.returncode is None:
                process.kill()
        if not rows:
            return None
        return (sum(row[0] for row in rows) / len(rows), sum(100.0 * row[1] / row[2] for row in rows if row[2]) / len(rows))

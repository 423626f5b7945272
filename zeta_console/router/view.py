"""The read model: the `EndpointState` policies decide on, endpoint status, and the snapshots
readers see, built on demand from the live state the router owns."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from zeta_console.backends.types import QueueSignals
from zeta_console.router.api import EndpointSnapshot, EndpointStatus, RouterSnapshot
from zeta_console.router.candidates import EndpointState
from zeta_console.router.controls import OperatorControls, task_needs
from zeta_console.router.endpoint import Endpoint
from zeta_console.router.frozen import fast_constructor
from zeta_console.router.health import CircuitBreakers, HealthMonitor
from zeta_console.router.hedging import Hedger
from zeta_console.router.metrics import EndpointMetrics, FleetTraffic
from zeta_console.router.policies import policy_names
from zeta_console.router.slots import SlotTable
from zeta_console.settings import Task, Thresholds

ServerQueue = tuple[int, int, int]  # running, waiting, slots


def combined_queue(signals: QueueSignals, own_at_signals: int, own_now: int, configured_slots: int) -> ServerQueue | None:
    """A server's running and waiting requests now and the slots it runs: its gauges plus what this
    router sent there since they were read (less what finished), never fewer than this router's own
    in flight (the gauges lag by up to a round, backends-api.md §8). A server that does not report its
    slots runs at least what it runs while it queues nothing; None when its gauges are unknown."""
    if signals.running is None:
        return None
    total = max(own_now, signals.running + (signals.waiting or 0) + own_now - own_at_signals)
    slots = signals.slots or max(configured_slots, signals.running if signals.waiting else total)
    running = min(total, slots)
    return running, total - running, slots


_new_endpoint_state = fast_constructor(EndpointState)  # per endpoint per decision (router/frozen.py): keywords, every field
UNUSABLE = (EndpointStatus.EJECTED, EndpointStatus.DOWN, EndpointStatus.DRAINED, EndpointStatus.MISSING)


def over_thresholds(metrics: EndpointMetrics, queued: int, thresholds: Thresholds, now: float) -> str:
    """Why the endpoint counts as degraded ("" when it does not)."""
    ttft_p95_s, latency_p95_s = metrics.ttft_percentile(0.95, now), metrics.latency_percentile(0.95, now)
    return degraded_by(ttft_p95_s, latency_p95_s, queued, metrics.error_rate(now), thresholds)


def degraded_by(ttft_p95_s: float | None, latency_p95_s: float | None, queued: int, error_rate: float, thresholds: Thresholds) -> str:
    """`over_thresholds` from the figures read already."""
    if ttft_p95_s is not None and ttft_p95_s > thresholds.ttft_s:
        return f"TTFT p95 {ttft_p95_s:.2f} s > {thresholds.ttft_s:g} s"
    if latency_p95_s is not None and latency_p95_s > thresholds.latency_s:
        return f"latency p95 {latency_p95_s:.1f} s > {thresholds.latency_s:g} s"
    if queued > thresholds.queue:
        return f"queue {queued} > {thresholds.queue}"
    if error_rate > thresholds.error_rate:
        return f"error rate {error_rate:.0%} > {thresholds.error_rate:.0%}"
    return ""


class RouterView:
    """Reads the router's live state; changes nothing."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        capabilities: Mapping[str, frozenset[str]],
        metrics: Mapping[str, EndpointMetrics],
        slots: SlotTable,
        breakers: CircuitBreakers,
        health: HealthMonitor,
        controls: OperatorControls,
        traffic: FleetTraffic,
        hedger: Hedger,
    ) -> None:
        """`capabilities` is the router's own mapping (updated in place as /api/show answers)."""
        self._endpoints = endpoints
        self._capabilities = capabilities
        self._metrics = metrics
        self._slots = slots
        self._breakers = breakers
        self._health = health
        self._controls = controls
        self._traffic = traffic
        self._hedger = hedger
        self._on_host: dict[str, list[str]] = {}  # host -> its endpoints' ids
        for endpoint in endpoints.values():
            self._on_host.setdefault(endpoint.host, []).append(endpoint.id)

    def host_in_flight(self, host: str) -> int:
        """This router's requests in flight on `host`, over all its endpoints (a server's gauges count them all)."""
        in_flight = self._slots.in_flight
        return sum(in_flight[endpoint_id] for endpoint_id in self._on_host.get(host, ()))

    def fresh_signals(self, host: str, now: float) -> QueueSignals | None:
        """The host's last reading of its own gauges, if it has them and the reading is recent."""
        state = self._health.hosts[host]
        if state.signals is None or state.signals_at is None or now - state.signals_at > self._health.signals_fresh_s:
            return None
        return state.signals

    def server_queue(self, endpoint: Endpoint, now: float) -> ServerQueue | None:
        """The endpoint's server's own counts now (`combined_queue`); None when it has no fresh gauges."""
        signals = self.fresh_signals(endpoint.host, now)
        if signals is None or signals.running is None:
            return None
        own_at = self._health.hosts[endpoint.host].own_at_signals
        return combined_queue(signals, own_at, self.host_in_flight(endpoint.host), endpoint.slots)

    def endpoint_state(self, endpoint: Endpoint, queued: int, now: float, arrivals: bool) -> EndpointState:
        """What a policy knows about one endpoint right now; `queued`: the requests ahead in the router's queue;
        `arrivals`: read its arrival rate (only a streamed request's ranking does, `hold_s`), else 0.0.
        Built for every endpoint on every decision: each figure is read once (the status reuses them)."""
        endpoint_id = endpoint.id
        metrics = self._metrics[endpoint_id]
        thresholds = self._controls.thresholds_for(endpoint.tier)
        ttft_p95_s = metrics.ttft_percentile(0.95, now)
        latency_p95_s = metrics.latency_percentile(0.95, now)
        error_rate = metrics.error_rate(now)
        over = degraded_by(ttft_p95_s, latency_p95_s, self._slots.queued[endpoint_id], error_rate, thresholds)
        status, status_reason = self.status(endpoint, now, over)
        server = self.server_queue(endpoint, now)
        estimates = metrics.estimates(now)
        return _new_endpoint_state(
            id=endpoint_id,
            tier=endpoint.tier,
            model=endpoint.model,
            host=endpoint.host,
            capabilities=self._capabilities[endpoint_id],
            slots=endpoint.slots,
            in_flight=self._slots.in_flight[endpoint_id],
            queued=queued,
            status=status,
            drained=endpoint_id in self._controls.state.drained,
            thresholds=thresholds,
            ttft_ewma_s=metrics.ttft.value,
            ttft_p95_s=ttft_p95_s,
            latency_p95_s=latency_p95_s,
            prefill_s_per_token=estimates.prefill_s_per_token,
            decode_tps=estimates.decode_tps,
            load_s=metrics.load_s.value,
            resident=self.is_resident(endpoint),
            error_rate=error_rate,
            recent_fast_failures=metrics.recent_fast_failures(now),
            last_sample_age_s=self._telemetry_age_s(endpoint, now),
            latency_ewma_s=metrics.latency.value,
            frees_in_s=self._slots.frees_in_s(endpoint_id, now),
            estimates_relaxed_by=estimates.relaxed_by,
            status_reason=status_reason,
            ttft_overhead_s=metrics.ttft_overhead_s(now),
            server_running=server[0] if server else None,
            server_waiting=server[1] if server else None,
            server_slots=server[2] if server else None,
            arrivals_per_s=metrics.arrivals_per_s(now) if arrivals else 0.0,
            silent_s=metrics.silent_s(now),
            silent_attempts=metrics.silent_attempts(),
        )

    def is_resident(self, endpoint: Endpoint) -> bool | None:
        """Loaded, per /api/ps, or because it answered since the last probe (the poll lags behind)."""
        answered_at = self._metrics[endpoint.id].last_answer_at
        probed_at = self._health.hosts[endpoint.host].probed_at
        if answered_at is not None and (probed_at is None or answered_at > probed_at):
            return True
        residency = self._health.residency(endpoint.host, endpoint.model)
        return None if residency is None else residency is not False

    def _telemetry_age_s(self, endpoint: Endpoint, now: float) -> float | None:
        """Age of the freshest news about the endpoint: its last answer or its host's last good probe."""
        host = self._health.hosts[endpoint.host]
        answer_age = self._metrics[endpoint.id].last_sample_age_s(now)
        if not host.reachable or host.probed_at is None:
            return answer_age
        probe_age = now - host.probed_at
        return probe_age if answer_age is None or probe_age < answer_age else answer_age

    def _states(self, endpoint: Endpoint, now: float, over: str | None = None) -> Iterator[tuple[EndpointStatus, str]]:
        """Every state that applies, with its reason, most important first; lazy, so the status costs only its own checks.
        `over`: `over_thresholds` when the caller has it already."""
        if endpoint.id in self._controls.state.drained:
            yield EndpointStatus.DRAINED, "drained by the operator"
        if self._health.is_installed(endpoint.host, endpoint.model) is False:
            yield EndpointStatus.MISSING, self._health.missing_reason(endpoint.host, endpoint.model)
        if self._breakers.is_out(endpoint.id, now):
            yield EndpointStatus.EJECTED, self._breakers.state(endpoint.id).reason
        host = self._health.hosts[endpoint.host]
        if host.reachable is False:
            yield EndpointStatus.DOWN, host.reason
        if over is None:
            over = over_thresholds(
                self._metrics[endpoint.id], self._slots.queued[endpoint.id], self._controls.thresholds_for(endpoint.tier), now
            )
        if over:
            yield EndpointStatus.DEGRADED, over

    def _up(self, endpoint: Endpoint) -> tuple[EndpointStatus, str]:
        return EndpointStatus.UP, self._breakers.state(endpoint.id).reason or self._health.hosts[endpoint.host].reason

    def status(self, endpoint: Endpoint, now: float, over: str | None = None) -> tuple[EndpointStatus, str]:
        """The state that matters most: drained > missing > ejected > down > degraded > up (`over`: as `_states`)."""
        return next(self._states(endpoint, now, over), None) or self._up(endpoint)

    def states(self, endpoint: Endpoint, now: float) -> tuple[tuple[EndpointStatus, str], ...]:
        return tuple(self._states(endpoint, now)) or (self._up(endpoint),)

    def available(self, now: float) -> tuple[bool, ...]:
        """Per endpoint, in order: up or degraded (routable without a last-resort exception)."""
        return tuple(self.status(endpoint, now)[0] in (EndpointStatus.UP, EndpointStatus.DEGRADED) for endpoint in self._endpoints.values())

    def sole_server_of(self, endpoint_id: str) -> Task | None:
        """A task whose route has no usable endpoint but `endpoint_id` (None: it may be ejected)."""
        now = time.monotonic()
        endpoint = self._endpoints[endpoint_id]
        for task, tiers in self._controls.settings.routes.items():
            pinned = self._controls.pin_for(task)
            route = (pinned,) if pinned else tiers
            need = task_needs(task)
            if endpoint.tier not in route or need not in self._capabilities[endpoint_id]:
                continue
            others = [
                other
                for other in self._endpoints.values()
                if other.id != endpoint_id
                and other.tier in route
                and need in self._capabilities[other.id]
                and self.status(other, now)[0] not in UNUSABLE
            ]
            if not others:
                return task
        return None

    def endpoint_snapshot(self, endpoint: Endpoint, now: float) -> EndpointSnapshot:
        view = self._metrics[endpoint.id].view(now)
        states = self.states(endpoint, now)
        residency = self._health.residency(endpoint.host, endpoint.model)  # /api/ps only, as documented
        row = residency or None
        return EndpointSnapshot(
            id=endpoint.id,
            tier=endpoint.tier,
            model=endpoint.model,
            host=endpoint.host,
            url=endpoint.url,
            capabilities=self._capabilities[endpoint.id],
            status=states[0][0],
            status_reason="; ".join(reason for _, reason in states if reason),
            states=tuple(status for status, _ in states),
            ejected_for_s=self._breakers.ejected_for_s(endpoint.id, now),
            drained=endpoint.id in self._controls.state.drained,
            slots=endpoint.slots,
            in_flight=self._slots.in_flight[endpoint.id],
            queued=self._slots.queued[endpoint.id],
            ttft_ewma_s=view.ttft_ewma_s,
            ttft_p50_s=view.ttft_p50_s,
            ttft_p95_s=view.ttft_p95_s,
            ttft_p99_s=view.ttft_p99_s,
            latency_p50_s=view.latency_p50_s,
            latency_p95_s=view.latency_p95_s,
            latency_p99_s=view.latency_p99_s,
            decode_tps=view.decode_tps,
            prefill_tps=view.prefill_tps,
            load_s=view.load_s,
            successes=view.successes,
            errors=view.errors,
            error_rate=view.error_rate,
            errors_by_kind=view.errors_by_kind,
            resident=None if residency is None else row is not None,
            size_bytes=row.size_bytes if row else None,
            size_vram_bytes=row.size_vram_bytes if row else None,
            expires_at=row.expires_at if row else None,
            ttft_history=view.ttft_history,
            latency_history=view.latency_history,
            tps_history=view.tps_history,
            server=self._health.server_kind(endpoint.host),
            server_signals=self.fresh_signals(endpoint.host, now),
            last_cold_load_s=view.last_cold_load_s,
        )

    def snapshot(self) -> RouterSnapshot:
        now = time.monotonic()
        return RouterSnapshot(
            taken_at=time.time(),
            policy=self._controls.state.policy,
            policies=policy_names(),
            pins=dict(self._controls.state.pins),
            thresholds=self._controls.state.thresholds,
            endpoints=tuple(self.endpoint_snapshot(endpoint, now) for endpoint in self._endpoints.values()),
            requests_per_s=self._traffic.requests_per_s(now),
            error_rate=self._traffic.error_rate(now),
            shed_rate=self._traffic.shed_rate(now),
            total_requests=self._traffic.finished,
            hosts={name: host.resources for name, host in self._health.hosts.items()},
            differs_from_config=self._controls.differs_from_config(),
            installed={name: tuple(host.installed.values()) for name, host in self._health.hosts.items() if host.installed is not None},
            hedging=self._hedger.snapshot(self._controls.state.hedging),
            tier_tolerance=self._controls.state.tier_tolerance,
        )

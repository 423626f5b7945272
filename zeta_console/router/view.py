"""The read side, built on demand from the router's live state: the `EndpointState` policies
decide on, endpoint status, and the snapshots readers see."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from zeta_console.router.api import Classification, Decision, EndpointSnapshot, EndpointStatus, RouterSnapshot
from zeta_console.router.candidates import EndpointState
from zeta_console.router.metrics import EndpointMetrics
from zeta_console.router.policies import policy_names
from zeta_console.settings import PolicyName, Task, Thresholds

if TYPE_CHECKING:
    from zeta_console.router.dispatch import RequestState
    from zeta_console.router.router import Endpoint, ZetaDynamicRouter


def over_thresholds(metrics: EndpointMetrics, queued: int, thresholds: Thresholds, now: float) -> str:
    """Why the endpoint counts as degraded ("" when it does not)."""
    ttft = metrics.ttft_percentile(0.95, now)
    if ttft is not None and ttft > thresholds.ttft_s:
        return f"TTFT p95 {ttft:.2f} s > {thresholds.ttft_s:g} s"
    latency = metrics.latency_percentile(0.95, now)
    if latency is not None and latency > thresholds.latency_s:
        return f"latency p95 {latency:.1f} s > {thresholds.latency_s:g} s"
    if queued > thresholds.queue:
        return f"queue {queued} > {thresholds.queue}"
    error_rate = metrics.error_rate(now)
    if error_rate > thresholds.error_rate:
        return f"error rate {error_rate:.0%} > {thresholds.error_rate:.0%}"
    return ""


def endpoint_state(router: ZetaDynamicRouter, endpoint: Endpoint, queued: int, now: float) -> EndpointState:
    """What a policy knows about one endpoint right now; `queued`: the requests ahead in the router's queue."""
    metrics = router.metrics[endpoint.id]
    status, status_reason = endpoint_status(router, endpoint, now)
    return EndpointState(
        id=endpoint.id,
        tier=endpoint.tier,
        model=endpoint.model,
        host=endpoint.host,
        capabilities=router.capabilities[endpoint.id],
        slots=endpoint.slots,
        in_flight=router.slots.in_flight[endpoint.id],
        queued=queued,
        status=status,
        drained=endpoint.id in router.controls.drained,
        thresholds=router.thresholds_for(endpoint.tier),
        ttft_ewma_s=metrics.ttft.value,
        ttft_p95_s=metrics.ttft_percentile(0.95, now),
        latency_p95_s=metrics.latency_percentile(0.95, now),
        prefill_s_per_token=metrics.prefill_s_per_token.value,
        decode_tps=metrics.decode_tps.value,
        load_s=metrics.load_s.value,
        resident=is_resident(router, endpoint),
        error_rate=metrics.error_rate(now),
        recent_fast_failures=metrics.recent_fast_failures(now),
        last_sample_age_s=_telemetry_age_s(router, endpoint, now),
        latency_ewma_s=metrics.latency.value,
        status_reason=status_reason,
    )


def is_resident(router: ZetaDynamicRouter, endpoint: Endpoint) -> bool | None:
    """Loaded, per /api/ps, or because it answered since the last probe (the poll lags behind)."""
    answered_at = router.metrics[endpoint.id].last_answer_at
    probed_at = router.health.hosts[endpoint.host].probed_at
    if answered_at is not None and (probed_at is None or answered_at > probed_at):
        return True
    residency = router.health.residency(endpoint.host, endpoint.model)
    return None if residency is None else residency is not False


def _telemetry_age_s(router: ZetaDynamicRouter, endpoint: Endpoint, now: float) -> float | None:
    """Age of the freshest news about the endpoint: its last answer or its host's last good probe."""
    host = router.health.hosts[endpoint.host]
    probe_age = now - host.probed_at if host.reachable and host.probed_at is not None else None
    ages = [age for age in (router.metrics[endpoint.id].last_sample_age_s(now), probe_age) if age is not None]
    return min(ages) if ages else None


def _states(router: ZetaDynamicRouter, endpoint: Endpoint, now: float) -> Iterator[tuple[EndpointStatus, str]]:
    """Every state that applies, with its reason, most important first; lazy, so the status costs only its own checks."""
    if endpoint.id in router.controls.drained:
        yield EndpointStatus.DRAINED, "drained by the operator"
    if router.health.is_installed(endpoint.host, endpoint.model) is False:
        yield EndpointStatus.MISSING, router.health.missing_reason(endpoint.host, endpoint.model)
    if router.breakers.is_out(endpoint.id, now):
        yield EndpointStatus.EJECTED, router.breakers.state(endpoint.id).reason
    host = router.health.hosts[endpoint.host]
    if host.reachable is False:
        yield EndpointStatus.DOWN, host.reason
    over = over_thresholds(router.metrics[endpoint.id], router.slots.queued[endpoint.id], router.thresholds_for(endpoint.tier), now)
    if over:
        yield EndpointStatus.DEGRADED, over


def _up(router: ZetaDynamicRouter, endpoint: Endpoint) -> tuple[EndpointStatus, str]:
    return EndpointStatus.UP, router.breakers.state(endpoint.id).reason or router.health.hosts[endpoint.host].reason


def endpoint_status(router: ZetaDynamicRouter, endpoint: Endpoint, now: float) -> tuple[EndpointStatus, str]:
    """The state that matters most: drained > missing > ejected > down > degraded > up."""
    return next(_states(router, endpoint, now), None) or _up(router, endpoint)


def endpoint_states(router: ZetaDynamicRouter, endpoint: Endpoint, now: float) -> tuple[tuple[EndpointStatus, str], ...]:
    return tuple(_states(router, endpoint, now)) or (_up(router, endpoint),)


def undecided(state: RequestState, policy: PolicyName) -> Decision:
    """The decision of a request that ended before one was made (cancelled or failed early)."""
    classification = state.classification or Classification(Task.SIMPLE, 0.0, "not classified", "none")
    reason = f"{state.outcome.value} before routing" + (f": {state.error.message}" if state.error else "")
    return Decision(state.request_id, state.started_at, classification, policy, (), None, reason, client=state.request.client)


def endpoint_snapshot(router: ZetaDynamicRouter, endpoint: Endpoint, now: float) -> EndpointSnapshot:
    view = router.metrics[endpoint.id].view(now)
    states = endpoint_states(router, endpoint, now)
    residency = router.health.residency(endpoint.host, endpoint.model)  # /api/ps only, as documented
    row = residency or None
    return EndpointSnapshot(
        id=endpoint.id,
        tier=endpoint.tier,
        model=endpoint.model,
        host=endpoint.host,
        url=endpoint.url,
        capabilities=router.capabilities[endpoint.id],
        status=states[0][0],
        status_reason="; ".join(reason for _, reason in states if reason),
        states=tuple(status for status, _ in states),
        ejected_for_s=router.breakers.ejected_for_s(endpoint.id, now),
        drained=endpoint.id in router.controls.drained,
        slots=endpoint.slots,
        in_flight=router.slots.in_flight[endpoint.id],
        queued=router.slots.queued[endpoint.id],
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
    )


def router_snapshot(router: ZetaDynamicRouter) -> RouterSnapshot:
    now = time.monotonic()
    return RouterSnapshot(
        taken_at=time.time(),
        policy=router.controls.policy,
        policies=policy_names(),
        pins=dict(router.controls.pins),
        thresholds=router.controls.thresholds,
        endpoints=tuple(endpoint_snapshot(router, endpoint, now) for endpoint in router.endpoints.values()),
        requests_per_s=router.requests_per_s(),
        error_rate=router.error_rate(),
        total_requests=router.total_requests,
        hosts={name: host.resources for name, host in router.health.hosts.items()},
        differs_from_config=router.differs_from_config(),
        installed={name: tuple(host.installed.values()) for name, host in router.health.hosts.items() if host.installed is not None},
    )

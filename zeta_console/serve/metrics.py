"""Prometheus metrics for the endpoint, on a registry private to one app.

Counters and histograms are fed by the router's events (every routed request, whoever sent
it: the console's prompt, the load generator or `serve` clients); gauges are read from a
router snapshot at scrape time, so they can never drift from what the console shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeta_console.router.api import (
    Decision,
    EndpointStatus,
    HedgingSnapshot,
    OperatorAction,
    RequestRecord,
    RouterEvent,
    RouterSnapshot,
)

TTFT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
NO_ENDPOINT = "none"  # label of requests rejected before any endpoint was chosen


def client_kind(client: str) -> str:
    """`serve:10.0.0.7` -> `serve`: a bounded label, whatever the peer."""
    return client.partition(":")[0] or "unknown"


def reason_kind(decision: Decision) -> str:
    """A bounded summary of `Decision.reason` (free text) for a label."""
    if decision.chosen is None:
        return "rejected"
    if decision.fallbacks:
        return "fallback"
    if decision.pins:
        return "pinned"
    return "routed"


Metric_ = TypeVar("Metric_", Counter, Histogram)


class Labelled(Generic[Metric_]):
    """A labelled metric's children, each looked up once: prometheus' `labels()` checks, converts and
    locks on every call, ~6 times per routed request. The values are bounded (they are labels), and
    prometheus keeps every child anyway."""

    def __init__(self, metric: Metric_) -> None:
        self._metric: Metric_ = metric
        self._children: dict[tuple[str, ...], Metric_] = {}

    def __call__(self, *values: str) -> Metric_:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class _SnapshotCollector(Collector):
    """Gauges computed from a fresh router snapshot at every scrape."""

    def __init__(self, snapshot: Callable[[], RouterSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snapshot = self._snapshot()
        labels = ["endpoint", "tier", "model", "host"]
        in_flight = GaugeMetricFamily("zeta_endpoint_in_flight", "Requests dispatched to the endpoint and not finished", labels=labels)
        queued = GaugeMetricFamily("zeta_endpoint_queued", "Requests waiting in the router for a slot on the endpoint", labels=labels)
        slots = GaugeMetricFamily("zeta_endpoint_slots", "Parallel slots of the endpoint", labels=labels)
        breaker = GaugeMetricFamily("zeta_endpoint_breaker_open", "1 while the endpoint's circuit breaker is open (ejected)", labels=labels)
        status = GaugeMetricFamily("zeta_endpoint_status", "1 for the endpoint's current status", labels=[*labels, "status"])
        resident = GaugeMetricFamily("zeta_endpoint_resident", "1 when /api/ps reports the model loaded", labels=labels)
        error_rate = GaugeMetricFamily("zeta_endpoint_error_rate", "Rolling error rate, 0..1", labels=labels)
        for endpoint in snapshot.endpoints:
            values = [endpoint.id, endpoint.tier, endpoint.model, endpoint.host]
            in_flight.add_metric(values, endpoint.in_flight)
            queued.add_metric(values, endpoint.queued)
            slots.add_metric(values, endpoint.slots)
            breaker.add_metric(values, 1.0 if endpoint.status is EndpointStatus.EJECTED else 0.0)
            for state in EndpointStatus:
                status.add_metric([*values, state.value], 1.0 if endpoint.status is state else 0.0)
            if endpoint.resident is not None:
                resident.add_metric(values, 1.0 if endpoint.resident else 0.0)
            error_rate.add_metric(values, endpoint.error_rate)
        policy = GaugeMetricFamily("zeta_router_policy", "1 for the routing policy in force", labels=["policy"])
        policy.add_metric([snapshot.policy], 1.0)
        yield from (in_flight, queued, slots, breaker, status, resident, error_rate, policy)
        yield from _server_metrics(snapshot, labels)
        if snapshot.hedging is not None:
            yield from _hedging_metrics(snapshot.hedging)


# The server's own gauges as the router last read them (llama.cpp, vLLM, SGLang): QueueSignals field -> (name, help)
SERVER_GAUGES = {
    "running": ("zeta_endpoint_server_running", "Requests the endpoint's server says it is processing"),
    "waiting": ("zeta_endpoint_server_waiting", "Requests the endpoint's server says are queued or deferred"),
    "slots": ("zeta_endpoint_server_slots", "Requests the endpoint's server runs at once, as it reports"),
    "kv_cache_usage": ("zeta_endpoint_server_kv_cache_usage_ratio", "The endpoint's server's KV cache use, 0..1"),
}


def _server_metrics(snapshot: RouterSnapshot, labels: list[str]) -> Iterable[Metric]:
    """Per endpoint, what its server last said of its own load, labelled with the kind of server.
    A figure it does not report, could not be read or is stale has no sample: absent, never 0."""
    families = {field: GaugeMetricFamily(name, text, labels=[*labels, "server"]) for field, (name, text) in SERVER_GAUGES.items()}
    for endpoint in snapshot.endpoints:
        signals = endpoint.server_signals
        if signals is None:
            continue
        values = [endpoint.id, endpoint.tier, endpoint.model, endpoint.host, signals.server or endpoint.server]
        for field, family in families.items():
            value = getattr(signals, field)
            if value is not None:
                family.add_metric(values, float(value))
    return families.values()


def _hedging_metrics(hedging: HedgingSnapshot) -> Iterable[Metric]:
    """Hedging before the first token: what it did since the router started (counters kept by the
    router, read at scrape time like the gauges), its switch and its budget."""
    hedges = CounterMetricFamily(
        "zeta_hedges",
        "Hedges before the first token: sent; won (the hedge answered first); cancelled (attempts that lost the race); "
        "denied (late, but the budget was spent)",
        labels=["result"],
    )
    for result, count in (("sent", hedging.sent), ("won", hedging.won), ("cancelled", hedging.cancelled), ("denied", hedging.denied)):
        hedges.add_metric([result], count)
    enabled = GaugeMetricFamily("zeta_hedging_enabled", "1 while hedging before the first token is switched on")
    enabled.add_metric([], 1.0 if hedging.enabled else 0.0)
    budget = GaugeMetricFamily("zeta_hedge_budget", "Hedges the token bucket allows now")
    budget.add_metric([], hedging.budget)
    ratio = GaugeMetricFamily("zeta_hedge_budget_ratio", "The share of requests that hedges may add")
    ratio.add_metric([], hedging.ratio)
    yield from (hedges, enabled, budget, ratio)


class ServeMetrics:
    def __init__(self, snapshot: Callable[[], RouterSnapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "zeta_requests", "Routed requests by endpoint and outcome", ["endpoint", "outcome", "client"], registry=self.registry
        )
        self.errors = Counter(
            "zeta_request_errors", "Failed requests by endpoint and error kind", ["endpoint", "kind"], registry=self.registry
        )
        self.ttft = Histogram("zeta_ttft_seconds", "Time to first token", ["endpoint"], buckets=TTFT_BUCKETS_S, registry=self.registry)
        self.latency = Histogram(
            "zeta_request_duration_seconds",
            "Request latency, arrival to last chunk",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.output_tokens = Counter("zeta_output_tokens", "Tokens generated", ["endpoint"], registry=self.registry)
        self.decisions = Counter(
            "zeta_decisions",
            "Routing decisions by policy, task and kind of reason",
            ["policy", "task", "reason_kind"],
            registry=self.registry,
        )
        self.operator_actions = Counter("zeta_operator_actions", "Operator actions", ["action", "source"], registry=self.registry)
        self.responses = Counter("zeta_serve_responses", "HTTP responses of the endpoint", ["path", "status"], registry=self.registry)
        self.registry.register(_SnapshotCollector(snapshot))
        self._requests, self._errors = Labelled(self.requests), Labelled(self.errors)
        self._ttft, self._latency, self._output_tokens = Labelled(self.ttft), Labelled(self.latency), Labelled(self.output_tokens)
        self._decisions, self._responses = Labelled(self.decisions), Labelled(self.responses)

    def on_event(self, event: RouterEvent) -> None:
        if isinstance(event, RequestRecord):
            self._on_record(event)
        elif isinstance(event, Decision):
            self._decisions(event.policy, event.classification.task.value, reason_kind(event)).inc()
        elif isinstance(event, OperatorAction):
            self.operator_actions.labels(event.action, event.source).inc()

    def _on_record(self, record: RequestRecord) -> None:
        endpoint = record.endpoint or NO_ENDPOINT
        self._requests(endpoint, record.outcome.value, client_kind(record.decision.client)).inc()
        if record.error_kind is not None:
            self._errors(endpoint, record.error_kind.value).inc()
        if record.ttft_s is not None:
            self._ttft(endpoint).observe(record.ttft_s)
        if record.endpoint is not None:
            self._latency(endpoint).observe(record.total_s)
        if record.output_tokens:
            self._output_tokens(endpoint).inc(record.output_tokens)

    def counting_responses(self, app: ASGIApp, known_paths: frozenset[str]) -> ASGIApp:
        """Wrap `app` to count every response by path (known routes only: bounded labels) and status."""

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path = scope["path"] if scope["path"] in known_paths else "other"

            async def counting_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self._responses(path, str(message["status"])).inc()
                await send(message)

            await app(scope, receive, counting_send)

        return counted

"""The ZetaDynamicRouter: the live state every request shares, and a `RequestRun` per request.

One router per event loop. It owns the endpoints, slots, metrics, breakers, health monitor,
feedback, operator controls (`controls.py`) and the read model (`view.py`), and hands each
request a `RequestRun` (`run.py`) over them: admit -> classify -> decide -> queue/dispatch ->
failover -> record all happen there.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Sequence

from zeta_console.backends.registry import Backends
from zeta_console.backends.types import BackendError, Delta, RawChunk
from zeta_console.router.affinity import SessionTable
from zeta_console.router.api import EmbedResult, EventListener, OperatorAction, Relay, RelayedReply, RelayEmbed, RouterSnapshot
from zeta_console.router.classify import Classifier
from zeta_console.router.controls import OperatorControls, PolicyFactory
from zeta_console.router.endpoint import Endpoint, configured_endpoints
from zeta_console.router.events import Listeners
from zeta_console.router.feedback import FeedbackLoop
from zeta_console.router.health import CircuitBreakers, HealthMonitor
from zeta_console.router.hedging import Hedger
from zeta_console.router.metrics import EndpointMetrics, FleetTraffic, overhead_window, prediction_error_window
from zeta_console.router.policies import make_policy
from zeta_console.router.requests import AnyRequest, ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.router.retry import RetryBudget
from zeta_console.router.run import RequestRun, RunContext
from zeta_console.router.slots import SlotTable
from zeta_console.router.stream import RoutedStream
from zeta_console.router.view import RouterView
from zeta_console.settings import Settings

HEALTH_POLL_S = 2.0


class ZetaDynamicRouter:
    def __init__(
        self, settings: Settings, *, policy_factory: PolicyFactory = make_policy,
        health_poll_s: float = HEALTH_POLL_S, time_scale: float = 1.0, seed: int | None = None,
    ) -> None:
        """`time_scale` > 1 speeds up the metrics' time constants to match an emulator running that
        much faster; `seed` makes the policies' random choices (ties, exploration) repeatable."""
        self.settings = settings
        self.endpoints = configured_endpoints(settings)
        self.capabilities = {endpoint.id: settings.model(endpoint.tier).capabilities for endpoint in self.endpoints.values()}
        self.listeners = Listeners()
        self.breakers = CircuitBreakers(settings.breaker, list(self.endpoints), lambda endpoint: self.view.sole_server_of(endpoint) is None)
        self.controls = OperatorControls(
            settings, self.breakers, tuple(self.endpoints), policy_factory,
            sole_server_of=lambda endpoint: self.view.sole_server_of(endpoint), on_action=self._after_action,
        )
        self.slots = SlotTable({endpoint.id: endpoint.slots for endpoint in self.endpoints.values()})
        overheads = {endpoint.host: overhead_window(time_scale) for endpoint in self.endpoints.values()}
        errors = {endpoint.tier: prediction_error_window(time_scale) for endpoint in self.endpoints.values()}
        self.metrics = {e.id: EndpointMetrics(time_scale, overheads[e.host], errors[e.tier]) for e in self.endpoints.values()}
        host_urls = {host.name: host.url for host in settings.hosts}
        self.backends = Backends(settings.hosts, settings.timeouts)
        unset_keys = {host.name: f"no key: {variable} is not set" for host in settings.hosts if (variable := host.unset_key_variable)}
        self.health = HealthMonitor(
            self.backends, host_urls, health_poll_s, on_round=self._after_health_round, own_in_flight=self._host_in_flight,
            notes=unset_keys,
        )
        self.traffic = FleetTraffic()
        self.hedger = Hedger(settings.hedging)
        self.view = RouterView(
            self.endpoints, self.capabilities, self.metrics, self.slots, self.breakers, self.health, self.controls, self.traffic,
            self.hedger,
        )
        self._runs = RunContext(
            settings=settings,
            endpoints=self.endpoints,
            classifier=Classifier(settings, embed=self._embed_for_classifier),
            controls=self.controls,
            view=self.view,
            slots=self.slots,
            metrics=self.metrics,
            breakers=self.breakers,
            health=self.health,
            feedback=FeedbackLoop(settings),
            backends=self.backends,
            retry_budget=RetryBudget(settings.retry),
            hedger=self.hedger,
            traffic=self.traffic,
            listeners=self.listeners,
            rng=random.Random(seed),
            sessions=SessionTable(settings.affinity),
        )
        self._ids = itertools.count(1)
        # 32 random bits after the count tell this router's requests from another run's (as uuid4's first 8 hex
        # digits did); a generator seeded once from the OS, not a system call per request.
        self._id_bits = random.Random().getrandbits
        self._availability: tuple[bool, ...] = ()
        self._background: set[asyncio.Task[None]] = set()
        self._capabilities_read: set[str] = set()  # endpoints whose /api/show answered since their host came up
        self._reading_capabilities: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        await self.health.poll_once()  # its round end starts reading capabilities
        self.health.start()

    async def stop(self) -> None:
        await self.health.stop()  # first: a round's end may start background work
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.backends.aclose()

    async def __aenter__(self) -> ZetaDynamicRouter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _read_capabilities_soon(self) -> None:
        """Read /api/show for endpoints whose host is up and not yet read: at start, and again after
        a host comes back (Ollama restarted, perhaps with the model pulled anew)."""
        for endpoint in self.endpoints.values():
            if not self.health.hosts[endpoint.host].reachable:
                self._capabilities_read.discard(endpoint.id)
        if self._reading_capabilities is not None and not self._reading_capabilities.done():
            return
        unread = [e for e in self.endpoints.values() if e.id not in self._capabilities_read and self.health.hosts[e.host].reachable]
        if unread:
            task = asyncio.get_running_loop().create_task(self._read_capabilities(unread), name="zeta-capabilities")
            self._reading_capabilities = task
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _read_capabilities(self, endpoints: list[Endpoint]) -> None:
        """Add what /api/show reports (where the server reports capabilities) to the configured ones."""
        for endpoint in endpoints:
            try:
                reported = await self.backends[endpoint.host].capabilities(endpoint.model)
            except BackendError:
                continue  # read again after the next health round
            self._capabilities_read.add(endpoint.id)
            configured = self.settings.model(endpoint.tier).capabilities
            self.capabilities[endpoint.id] = configured | reported if reported is not None else configured

    # -- requests: each one is a RequestRun ---------------------------------------------------

    def chat(self, request: ChatRequest) -> RoutedStream[Delta]:
        run = self._run(request)
        return RoutedStream(run, run.open_backend_stream)

    def generate(self, request: GenerateRequest) -> RoutedStream[Delta]:
        run = self._run(request)
        return RoutedStream(run, run.open_backend_stream)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        return await self._run(request).embed()

    def relay(self, request: ChatRequest | GenerateRequest, relay: Relay) -> RoutedStream[RawChunk]:
        run = self._run(request)
        return RoutedStream(run, run.relay_opener(relay), relay.whole)

    async def relay_embed(self, request: EmbedRequest, relay: RelayEmbed) -> RelayedReply:
        run = self._run(request)
        reply, decision = await run.answer(run.relay_sender(relay))
        return RelayedReply(reply, decision)

    def _run(self, request: AnyRequest) -> RequestRun:
        return RequestRun(self._runs, f"{next(self._ids):06d}-{self._id_bits(32):08x}", request)

    async def _embed_for_classifier(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        result = await self.embed(EmbedRequest(input=list(texts), client="classifier"))
        return result.response.embeddings

    # -- events ----------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        return self.listeners.subscribe(listener)

    def _after_action(self, action: OperatorAction) -> None:
        self.listeners.emit(action)
        self.slots.wake_all()

    def _after_health_round(self) -> None:
        """Let queued requests re-decide when an endpoint became available (host back, ejection over), and
        late requests look for a hedge again (the servers' own slot counts were re-read)."""
        availability = self.view.available(time.monotonic())
        if availability != self._availability:
            self._availability = availability
            self.slots.wake_all()
        else:
            self.slots.changed()
        self._read_capabilities_soon()

    # -- read side -------------------------------------------------------------------------

    def _host_in_flight(self, host: str) -> int:
        return self.view.host_in_flight(host)

    def snapshot(self) -> RouterSnapshot:
        return self.view.snapshot()

"""The ZetaDynamicRouter: admit -> classify -> decide -> queue/dispatch -> failover -> record.

One router per event loop. It owns the live state (slots, metrics, breakers, operator controls)
and hands policies a plain `DecisionInput`; `dispatch.py` runs each request, `view.py` builds
the snapshots readers see.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from zeta_console.backends.registry import Backends
from zeta_console.backends.types import BackendError, DeltaStream, Embeddings
from zeta_console.journal import Journal
from zeta_console.router import view
from zeta_console.router.api import (
    Classification,
    Decision,
    EndpointStatus,
    ErrorKind,
    EventListener,
    OperatorAction,
    Outcome,
    RequestRecord,
    RouterEvent,
    RouterSnapshot,
)
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.classify import Classifier
from zeta_console.router.controls import ControlState, OperatorControls, task_needs
from zeta_console.router.dispatch import Attempt, RejectedError, RequestState, RetryBudget, RoutedStream, gave_up, run_embed
from zeta_console.router.feedback import FeedbackLoop
from zeta_console.router.health import FAILURE_KINDS, CircuitBreakers, HealthMonitor
from zeta_console.router.metrics import EndpointMetrics, ErrorRate, RateMeter
from zeta_console.router.policies import Policy, PolicyResult, make_policy
from zeta_console.router.policies.base import predicted_wait_s, service_time_s
from zeta_console.router.requests import AnyRequest, ChatRequest, EmbedRequest, EmbedResult, GenerateRequest
from zeta_console.router.slots import SlotTable, Waiter
from zeta_console.settings import PolicyName, Settings, Task
from zeta_console.wording import counted

log = logging.getLogger(__name__)

HEALTH_POLL_S = 2.0
UNUSABLE = (EndpointStatus.EJECTED, EndpointStatus.DOWN, EndpointStatus.DRAINED, EndpointStatus.MISSING)
LOAD_ALLOWANCE_FACTOR = 3.0
PolicyFactory = Callable[[PolicyName | str, Settings], Policy]


@dataclass(frozen=True)
class Endpoint:
    id: str  # "tier@host"
    tier: str
    model: str
    host: str
    url: str
    slots: int


class ZetaDynamicRouter(OperatorControls):
    def __init__(
        self, settings: Settings, *, journal: Journal | None = None, policy_factory: PolicyFactory = make_policy,
        health_poll_s: float = HEALTH_POLL_S, time_scale: float = 1.0, seed: int | None = None,
    ) -> None:
        """`time_scale` > 1 speeds up the metrics' time constants to match an emulator running that
        much faster; `seed` makes the policies' random choices (ties, exploration) repeatable."""
        self.settings = settings
        self._journal = journal
        self._policy_factory = policy_factory
        self.endpoints = {
            f"{model.tier}@{host}": Endpoint(f"{model.tier}@{host}", model.tier, model.model, host, settings.host(host).url, model.slots)
            for model in settings.models
            for host in model.hosts
        }
        self.endpoint_ids = tuple(self.endpoints)
        self.capabilities = {endpoint.id: settings.model(endpoint.tier).capabilities for endpoint in self.endpoints.values()}
        self.controls = ControlState(policy=settings.policy, thresholds=settings.thresholds)
        self._policy = policy_factory(settings.policy, settings)
        self.breakers = CircuitBreakers(settings.breaker, list(self.endpoints), self._may_eject)
        self.slots = SlotTable({endpoint.id: endpoint.slots for endpoint in self.endpoints.values()})
        self.metrics = {endpoint_id: EndpointMetrics(time_scale) for endpoint_id in self.endpoints}
        host_urls = {host.name: host.url for host in settings.hosts}
        self.backends = Backends(settings.hosts, settings.timeouts)
        self.health = HealthMonitor(self.backends, host_urls, health_poll_s, on_round=self._after_health_round)
        self.feedback = FeedbackLoop(settings)
        self.classifier = Classifier(settings, embed=self._embed_for_classifier)
        self.retry_budget = RetryBudget(settings.retry)
        self._listeners: list[EventListener] = []
        self._request_rate = RateMeter()
        self._outcomes = ErrorRate()
        self.total_requests = 0
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)
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

    # -- entry points ----------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> RoutedStream:
        return RoutedStream(self, self._new_state(request))

    def generate(self, request: GenerateRequest) -> RoutedStream:
        return RoutedStream(self, self._new_state(request))

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        state = self._new_state(request)
        response = await run_embed(self, state)
        assert state.decision is not None
        return EmbedResult(response=response, decision=state.decision)

    async def _embed_for_classifier(self, texts: Sequence[str]) -> Sequence[Sequence[float]]:
        result = await self.embed(EmbedRequest(input=list(texts), client="classifier"))
        return result.response.embeddings

    def _new_state(self, request: AnyRequest) -> RequestState:
        now = time.monotonic()
        self.retry_budget.on_request(now)
        self._request_rate.add(now)
        return RequestState(
            request_id=f"{next(self._ids):06d}-{uuid.uuid4().hex[:8]}",
            request=request,
            started_at=time.time(),
            started=now,
            deadline=now + self.settings.timeouts.total_s,
            prompt_tokens=request.estimated_prompt_tokens(),
            needs=request.capabilities_needed(),
        )

    # -- the pipeline, called by dispatch.py -----------------------------------------------

    async def classify(self, state: RequestState) -> None:
        request = state.request
        if isinstance(request, EmbedRequest):
            state.classification = Classification(Task.EMBEDDING, 1.0, "embed request", "explicit")
        else:
            state.classification = await self.classifier.classify(request.prompt_text(), task=Task(request.task) if request.task else None)
        if request.target is not None:
            state.target_tier = self._resolve_target(request.target)

    def _resolve_target(self, target: str) -> str:
        for model in self.settings.models:
            if target in (model.tier, model.model):
                return model.tier
        raise RejectedError(f"no tier or model named {target!r}")

    def decision_input(self, state: RequestState, queued: Mapping[str, int]) -> DecisionInput:
        assert state.classification is not None
        task = state.classification.task
        pinned = state.target_tier or self.pin_for(task)
        now = time.monotonic()
        return DecisionInput(
            request_id=state.request_id,
            classification=state.classification,
            route=(pinned,) if pinned else self.settings.routes.get(task, ()),
            pinned_tier=pinned,
            endpoints=tuple(view.endpoint_state(self, endpoint, queued[endpoint.id], now) for endpoint in self.endpoints.values()),
            prompt_tokens=state.prompt_tokens,
            needs=state.needs,
            feedback_weights=self.feedback.weights(time.time()),
            excluded=frozenset(state.tried),
            rng=self._rng,
        )

    def status(self, endpoint: Endpoint, now: float) -> tuple[EndpointStatus, str]:
        return view.endpoint_status(self, endpoint, now)

    async def admit(self, state: RequestState) -> tuple[Endpoint, bool]:
        """Decide, waiting in the queue while every eligible endpoint is full (late binding).

        Returns the endpoint (with a free slot: occupy it before the next await) and whether this
        is the request's last chance (no alternative or no attempt left)."""
        waiter: Waiter | None = None
        with ExitStack() as queue:
            while True:
                queued = self.slots.queued_ahead(waiter) if waiter is not None else self.slots.queued
                inp = self.decision_input(state, queued)
                result = self._policy.decide(inp)
                if result.chosen is None:
                    self._set_decision(state, result)
                    raise gave_up(state) if state.error is not None else RejectedError(result.reason)
                if not result.wait and self.slots.has_room(result.chosen, waiter):
                    self._set_decision(state, result)
                    alternatives = sum(1 for candidate in result.candidates if candidate.excluded is None and candidate.endpoint != result.chosen)
                    last_chance = not alternatives or len(state.tried) + 1 >= self.settings.retry.max_attempts
                    return self.endpoints[result.chosen], last_chance
                # All full: take whichever eligible endpoint frees first. Otherwise the policy preferred
                # a busy endpoint over a free one: wait for that one.
                eligible = [c.endpoint for c in sorted(result.candidates, key=lambda c: c.score) if c.excluded is None] if result.wait else [result.chosen]
                if waiter is None:
                    interactive = state.request.interactive
                    if not interactive:
                        self._shed_background(state, result, [e for e in inp.endpoints if e.id in eligible])
                    waiter = queue.enter_context(self.slots.waiting(Waiter(interactive=interactive, attributed=result.chosen)))
                try:
                    async with asyncio.timeout_at(asyncio.get_running_loop().time() + max(0.0, state.deadline - time.monotonic())):
                        await self.slots.sleep(waiter, eligible)
                except TimeoutError:
                    raise BackendError(ErrorKind.TIMED_OUT, f"no free slot within {self.settings.timeouts.total_s:.0f} s") from None

    def _shed_background(self, state: RequestState, result: PolicyResult, eligible: Sequence[EndpointState]) -> None:
        """Shed a background request now, with a 503 and a time to retry, rather than let it wait
        for a slot its client will have given up on: when `admission.max_queued` others wait already,
        or when every eligible endpoint is full and its predicted wait exceeds `admission.patience_s`
        (only once one of them is measured: on a fleet that never answered, the seed service time
        is a guess, not a reason to refuse)."""
        admission = self.settings.admission
        wait_s = predicted_wait_s(eligible)
        if self.slots.total_queued() >= admission.max_queued:
            reason = f"shed: {counted(admission.max_queued, 'request')} already waiting for a slot (admission.max_queued)"
        elif result.wait and wait_s > admission.patience_s and any(service_time_s(e) is not None for e in eligible):
            reason = f"shed: predicted wait {wait_s:.1f} s > patience {admission.patience_s:g} s (admission.patience_s)"
        else:
            return
        self._set_decision(state, PolicyResult(None, result.candidates, reason))
        # By then the queue ahead of it has drained to within its patience, if nothing else arrives.
        retry_after_s = max(0.0, wait_s - admission.patience_s)
        raise RejectedError(f"server busy, please try again: {reason}", ErrorKind.BUSY, retry_after_s=retry_after_s)

    def _set_decision(self, state: RequestState, result: PolicyResult) -> None:
        assert state.classification is not None
        task = state.classification.task
        pins = dict(self.controls.pins)
        if state.target_tier:
            pins[task.value] = state.target_tier
        state.decision = Decision(
            request_id=state.request_id,
            at=time.time(),
            classification=state.classification,
            policy=self.controls.policy,
            candidates=result.candidates,
            chosen=result.chosen,
            reason=result.reason,
            pins=pins,
            fallbacks=tuple(state.tried),
            client=state.request.client,
        )
        self._emit(state.decision)

    def begin_attempt(self, state: RequestState, endpoint: Endpoint) -> Attempt:
        state.attempt = Attempt(endpoint, time.monotonic(), self.breakers.on_dispatch(endpoint.id, time.monotonic()))
        return state.attempt

    def load_allowance_s(self, endpoint: Endpoint) -> float:
        """Extra time for the first token when the model may have to be loaded first.

        A cut-off load is wasted (Ollama aborts it when the client goes away), so a model that is
        not known to be resident gets a few times its usual load time, or the whole request
        deadline when it has never been seen loading."""
        if view.is_resident(self, endpoint):
            return 0.0
        load_s = self.metrics[endpoint.id].load_s.value
        return LOAD_ALLOWANCE_FACTOR * load_s if load_s is not None else self.settings.timeouts.total_s

    async def open_stream(self, endpoint: Endpoint, request: ChatRequest | GenerateRequest) -> DeltaStream:
        backend = self.backends[endpoint.host]
        common: dict[str, Any] = {
            "think": request.think, "options": request.options, "format": request.format, "keep_alive": request.keep_alive
        }
        if isinstance(request, ChatRequest):
            return await backend.chat(endpoint.model, request.messages, tools=request.tools, **common)
        return await backend.generate(
            endpoint.model,
            request.prompt,
            system=request.system,
            suffix=request.suffix,
            images=request.images,
            raw=request.raw,
            template=request.template,
            **common,
        )

    async def send_embed(self, endpoint: Endpoint, request: EmbedRequest) -> Embeddings:
        return await self.backends[endpoint.host].embed(
            endpoint.model,
            request.input,
            dimensions=request.dimensions,
            truncate=request.truncate,
            options=request.options,
            keep_alive=request.keep_alive,
        )

    def first_token(self, state: RequestState, attempt: Attempt) -> None:
        now = time.monotonic()
        attempt.ttft_s = now - attempt.started
        state.ttft_s = now - state.started
        self.metrics[attempt.endpoint.id].observe_first_token(attempt.ttft_s, now)

    def attempt_succeeded(self, state: RequestState, attempt: Attempt) -> None:
        now = time.monotonic()
        latency = now - attempt.started
        endpoint = attempt.endpoint
        self.metrics[endpoint.id].observe_success(latency, state.timings, now)
        self.breakers.on_success(endpoint.id, now)
        self.health.refresh_soon(endpoint.host)
        self.feedback.observe(self._task(state), endpoint.tier, ok=True, ttft_s=attempt.ttft_s, latency_s=latency, at=time.time())
        state.outcome = Outcome.OK
        state.attempt = None

    def attempt_failed(self, state: RequestState, attempt: Attempt, error: BackendError) -> None:
        now = time.monotonic()
        endpoint = attempt.endpoint
        self.metrics[endpoint.id].observe_error(error.kind, now - attempt.started, now)
        if error.kind in FAILURE_KINDS:
            self.breakers.on_failure(endpoint.id, error.kind, now)
            self.feedback.observe(self._task(state), endpoint.tier, ok=False, ttft_s=attempt.ttft_s, latency_s=now - attempt.started, at=time.time())
        else:
            self.breakers.on_abandoned(endpoint.id, attempt.probe)
        state.tried[endpoint.id] = error
        state.error = error
        state.attempt = None

    def may_retry(self, state: RequestState) -> bool:
        return len(state.tried) < self.settings.retry.max_attempts and self.retry_budget.try_spend(time.monotonic())

    @staticmethod
    def _task(state: RequestState) -> Task:
        return state.classification.task if state.classification else Task.SIMPLE

    def finish(self, state: RequestState) -> None:
        """Emit the request's one RequestRecord (idempotent)."""
        if state.record is not None:
            return
        if state.attempt is not None:  # cancelled mid-attempt: no verdict on the endpoint
            self.breakers.on_abandoned(state.attempt.endpoint.id, state.attempt.probe)
            state.attempt = None
        now = time.monotonic()
        endpoint = self.endpoints.get(state.decision.chosen) if state.decision and state.decision.chosen else None
        error = state.error if state.outcome in (Outcome.ERROR, Outcome.REJECTED) else None
        state.record = RequestRecord(
            request_id=state.request_id,
            decision=state.decision or view.undecided(state, self.controls.policy),
            endpoint=endpoint.id if endpoint else None,
            model=endpoint.model if endpoint else None,
            started_at=state.started_at,
            ttft_s=state.ttft_s,
            total_s=now - state.started,
            prompt_tokens=state.timings.prompt_tokens if state.timings else None,
            output_tokens=state.timings.output_tokens if state.timings else None,
            outcome=state.outcome,
            error_kind=error.kind if error else None,
            error=error.message if error else None,
            prompt=state.request.prompt_text() if self.settings.journal.store_prompts else None,
        )
        self.total_requests += 1
        if state.outcome is not Outcome.CANCELLED:
            self._outcomes.add(state.outcome is Outcome.OK, now)
        self._emit(state.record)

    # -- events ----------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: RouterEvent) -> None:
        if self._journal is not None and not isinstance(event, Decision):
            self._journal.record(event)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("router event listener failed on %s", type(event).__name__)

    def _after_action(self, action: OperatorAction) -> None:
        self._emit(action)
        self.slots.wake_all()

    def _install_policy(self, name: PolicyName) -> None:
        self._policy = self._policy_factory(name, self.settings)

    # -- health ----------------------------------------------------------------------------

    def _may_eject(self, endpoint_id: str) -> bool:
        return self._sole_server_of(endpoint_id) is None

    def _sole_server_of(self, endpoint_id: str) -> Task | None:
        """A task whose route has no usable endpoint but `endpoint_id` (None: it may be ejected)."""
        now = time.monotonic()
        endpoint = self.endpoints[endpoint_id]
        for task, tiers in self.settings.routes.items():
            pinned = self.pin_for(task)
            route = (pinned,) if pinned else tiers
            need = task_needs(task)
            if endpoint.tier not in route or need not in self.capabilities[endpoint_id]:
                continue
            others = [
                other for other in self.endpoints.values()
                if other.id != endpoint_id and other.tier in route and need in self.capabilities[other.id]
                and self.status(other, now)[0] not in UNUSABLE
            ]
            if not others:
                return task
        return None

    def _after_health_round(self) -> None:
        """Let queued requests re-decide when an endpoint became available (host back, ejection over)."""
        now = time.monotonic()
        availability = tuple(self.status(endpoint, now)[0] in (EndpointStatus.UP, EndpointStatus.DEGRADED) for endpoint in self.endpoints.values())
        if availability != self._availability:
            self._availability = availability
            self.slots.wake_all()
        self._read_capabilities_soon()

    # -- read side -------------------------------------------------------------------------

    def snapshot(self) -> RouterSnapshot:
        return view.router_snapshot(self)

    def requests_per_s(self) -> float:
        return self._request_rate.per_second(time.monotonic())

    def error_rate(self) -> float:
        return self._outcomes.value(time.monotonic())

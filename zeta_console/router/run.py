"""One routed request, start to end: classify, admit (decide, wait for a slot), attempt with
three timers, fail over before the first token, relay the answer, record.

The router builds one `RunContext` (its live state and collaborators) and hands each request a
`RequestRun` over it; the run owns the request's state. Everything a streamed request does happens
inside one async generator (`RequestRun.stream`), so that cancellation (task cancel or `aclose()`)
reaches the upstream stream and the `finally` blocks that free slots and emit the record always run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from zeta_console.backends.registry import Backends
from zeta_console.backends.types import BackendError, Delta, DeltaStream, Embeddings, FinalTimings, RawChunk, RawReply
from zeta_console.router.affinity import SessionTable, session_key
from zeta_console.router.api import (
    Classification,
    Decision,
    EmbedResult,
    ErrorKind,
    Outcome,
    Prediction,
    Ranking,
    Relay,
    RelayEmbed,
    RequestRecord,
)
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.classify import Classifier
from zeta_console.router.controls import OperatorControls
from zeta_console.router.endpoint import Endpoint
from zeta_console.router.errors import RejectedError, gave_up
from zeta_console.router.events import Listeners
from zeta_console.router.feedback import FeedbackLoop
from zeta_console.router.frozen import fast_constructor
from zeta_console.router.health import FAILURE_KINDS, CircuitBreakers, HealthMonitor
from zeta_console.router.hedging import Hedger
from zeta_console.router.metrics import EndpointMetrics, FleetTraffic
from zeta_console.router.policies import PolicyResult
from zeta_console.router.policies.base import has_free_slot, predicted_wait_s, service_time_s
from zeta_console.router.policies.prediction import prediction_for
from zeta_console.router.requests import AnyRequest, ChatRequest, EmbedRequest, StreamRequest, output_cap
from zeta_console.router.retry import RetryBudget, retryable
from zeta_console.router.slots import Occupancy, SlotTable, Waiter
from zeta_console.router.view import RouterView
from zeta_console.settings import Settings, Task, Timeouts
from zeta_console.wording import counted

Answer = TypeVar("Answer")


class Piece(Protocol):
    """A piece of a streamed answer: a backend's `Delta`, or bytes relayed as they came (`RawChunk`)."""

    @property
    def final(self) -> FinalTimings | None: ...  # set on the last piece, and only on it


class Whole(Protocol):
    """A whole answer: a backend's `Embeddings`, or a relayed `RawReply`."""

    @property
    def timings(self) -> FinalTimings: ...


P = TypeVar("P", bound=Piece)
W = TypeVar("W", bound=Whole)
# How a request reaches one endpoint: through its backend, or relayed as bytes by the caller.
StreamOpener = Callable[[Endpoint], Awaitable[AsyncGenerator[P, None]]]

LAST_ATTEMPT_GRACE = 2.0  # the last attempt gets this many times the first-token allowance
LOAD_ALLOWANCE_FACTOR = 3.0
# Built per request (router/frozen.py): keyword arguments only, every field given.
_new_decision_input = fast_constructor(DecisionInput)
_new_decision = fast_constructor(Decision)
_new_record = fast_constructor(RequestRecord)


@dataclass
class RequestState:
    """What the router knows about one request while it runs."""

    request_id: str
    request: AnyRequest
    started_at: float  # wall clock
    started: float  # monotonic
    deadline: float  # monotonic: started + total timeout
    prompt_tokens: int
    needs: frozenset[str]
    ranking: Ranking  # what the caller waits for (embeddings and non-streaming calls: the whole answer)
    max_output_tokens: int | None  # num_predict
    session: str | None  # router/affinity.py: None for requests that are not conversations
    classification: Classification | None = None
    target_tier: str | None = None  # the request's own pin
    decision: Decision | None = None
    tried: dict[str, BackendError] = field(default_factory=dict)  # endpoint -> why it failed, in order tried
    attempt: Attempt | None = None  # the attempt under way
    ttft_s: float | None = None  # as the caller saw it: queueing and failovers included
    timings: FinalTimings | None = None
    outcome: Outcome = Outcome.CANCELLED  # until proven otherwise
    error: BackendError | None = None
    record: RequestRecord | None = None


@dataclass
class Attempt:
    endpoint: Endpoint
    started: float  # monotonic
    probe: bool  # the endpoint's half-open probe
    slot: Occupancy  # holds the endpoint's slot until closed
    predicted_ttft_s: float | None  # the decision's prediction for it
    # The model was not known resident when it started: it may have to be loaded first. Its first token is then
    # observed when the attempt ends, with the final timings that report the load (`_observe_first_token_late`).
    may_load: bool
    ttft_s: float | None = None


@dataclass(frozen=True)
class RunContext:
    """What every request's run shares: the router's live state and collaborators, built once by the router."""

    settings: Settings
    endpoints: Mapping[str, Endpoint]
    classifier: Classifier
    controls: OperatorControls  # pins, and the policy instance in force
    view: RouterView
    slots: SlotTable
    metrics: Mapping[str, EndpointMetrics]
    breakers: CircuitBreakers
    health: HealthMonitor
    feedback: FeedbackLoop
    backends: Backends
    retry_budget: RetryBudget
    hedger: Hedger
    traffic: FleetTraffic
    listeners: Listeners
    rng: random.Random
    sessions: SessionTable


def first_token_allowance_s(timeouts: Timeouts, prompt_tokens: int) -> float:
    """Prefill is silent: the first token may take longer the longer the prompt."""
    return timeouts.first_token_s + timeouts.first_token_per_1k_prompt_tokens_s * prompt_tokens / 1000.0


class RequestRun:
    """One request's life. `stream()` (chat, generate) or `answer()` (embed) runs it; `finish()`
    records a stream that was closed before it ever ran. Each is given how to reach an endpoint:
    `open_backend_stream` / `send_backend_embed`, or a caller's relay of the client's own bytes."""

    def __init__(self, context: RunContext, request_id: str, request: AnyRequest) -> None:
        self._ctx = context
        now = time.monotonic()
        context.retry_budget.on_request(now)
        context.hedger.budget.on_request()
        context.traffic.arrived(now)
        self.state = RequestState(
            request_id=request_id,
            request=request,
            started_at=time.time(),
            started=now,
            deadline=now + context.settings.timeouts.total_s,
            prompt_tokens=request.estimated_prompt_tokens(),
            needs=request.capabilities_needed(),
            ranking=Ranking.READER if not isinstance(request, EmbedRequest) and request.stream else Ranking.COMPLETION,
            max_output_tokens=output_cap(request.options),
            session=session_key(request),
        )

    # -- the two ways a request runs ---------------------------------------------------------

    async def stream(self, open_stream: StreamOpener[P], whole: bool = False) -> AsyncGenerator[P, None]:
        """Try endpoints until one produces a first token; then relay its chunks to the end.
        `whole`: each opened stream is the whole answer in one piece (see `Relay`).

        One generator for the whole request (no nesting): every extra layer costs on every chunk."""
        state = self.state
        idle_s = self._ctx.settings.timeouts.idle_s
        loop = asyncio.get_running_loop()

        async def start(endpoint: Endpoint) -> tuple[AsyncGenerator[P, None], P]:
            upstream = await open_stream(endpoint)
            try:
                first = await upstream.__anext__()
            except StopAsyncIteration:
                await upstream.aclose()
                raise BackendError(ErrorKind.FAILED_MID_STREAM, "the stream ended before the first token") from None
            except BaseException:  # failed, timed out or cancelled: close the connection now
                await upstream.aclose()
                raise
            return upstream, first

        with self._recorded():
            await self._classify()
            discard = None if whole else lambda answer: answer[0].aclose()
            async with self._first_answer(start, discard, whole) as (attempt, (upstream, chunk)):
                if whole:
                    self._whole_first_token(attempt, chunk.final)
                idle = IdleTimer(loop, idle_s, _loop_deadline(loop, state.deadline))
                try:
                    while chunk.final is None:
                        yield chunk
                        following = await idle.next_chunk(upstream)
                        if following is None:
                            raise BackendError(ErrorKind.FAILED_MID_STREAM, "the stream ended without a final chunk")
                        chunk = following
                    state.timings = chunk.final
                    # Read the stream to its end before handing over the last chunk: a fully read
                    # response returns its connection to the pool even if the consumer stops here.
                    if await idle.next_chunk(upstream) is not None:
                        raise BackendError(ErrorKind.FAILED_MID_STREAM, "data after the final chunk")
                    yield chunk
                except BackendError as error:
                    # After the first token an error is the caller's error: never splice another model's text.
                    self._attempt_failed(attempt, error)
                    raise
                finally:
                    idle.stop()
                    await upstream.aclose()
                self._attempt_succeeded(attempt)

    async def answer(self, send: Callable[[Endpoint], Awaitable[W]]) -> tuple[W, Decision]:
        """Try endpoints until one answers whole (an embedding)."""
        state = self.state
        with self._recorded():
            await self._classify()
            async with self._first_answer(send) as (attempt, response):
                state.timings = response.timings
                self._attempt_succeeded(attempt)
        assert state.decision is not None
        return response, state.decision

    async def embed(self) -> EmbedResult:
        response, decision = await self.answer(self.send_backend_embed)
        return EmbedResult(response=response, decision=decision)

    # -- classify ------------------------------------------------------------------------------

    async def _classify(self) -> None:
        state = self.state
        request = state.request
        if isinstance(request, EmbedRequest):
            state.classification = Classification(Task.EMBEDDING, 1.0, "embed request", "explicit")
        else:
            task = Task(request.task) if request.task else None
            state.classification = await self._ctx.classifier.classify(request.prompt_text(), task=task)
        if request.target is not None:
            state.target_tier = self._resolve_target(request.target)

    def _resolve_target(self, target: str) -> str:
        for model in self._ctx.settings.models:
            if target in (model.tier, model.model):
                return model.tier
        raise RejectedError(f"no tier or model named {target!r}")

    # -- admit: decide, and wait in the queue while every eligible endpoint is full -------------

    def _decision_input(self, queued: Mapping[str, int]) -> DecisionInput:
        state, ctx = self.state, self._ctx
        assert state.classification is not None
        task = state.classification.task
        pinned = state.target_tier or ctx.controls.pin_for(task)
        now = time.monotonic()
        arrivals = state.ranking is Ranking.READER
        return _new_decision_input(
            request_id=state.request_id,
            classification=state.classification,
            route=(pinned,) if pinned else ctx.settings.routes.get(task, ()),
            pinned_tier=pinned,
            endpoints=tuple(ctx.view.endpoint_state(endpoint, queued[endpoint.id], now, arrivals) for endpoint in ctx.endpoints.values()),
            prompt_tokens=state.prompt_tokens,
            needs=state.needs,
            feedback_weights=ctx.feedback.weights(time.time()),
            excluded=frozenset(state.tried),
            rng=ctx.rng,
            ranking=state.ranking,
            expected_output_tokens=ctx.feedback.expected_output_tokens(task),
            max_output_tokens=state.max_output_tokens,
            session=ctx.sessions.hint(state.session, state.prompt_tokens, now) if state.session else None,
        )

    async def _admit(self) -> tuple[Endpoint, bool]:
        """Decide, waiting in the queue while every eligible endpoint is full (late binding).

        Returns the endpoint (with a free slot: occupy it before the next await) and whether this
        is the request's last chance (no alternative or no attempt left)."""
        state, ctx = self.state, self._ctx
        slots = ctx.slots
        waiter: Waiter | None = None
        with ExitStack() as queue:
            while True:
                queued = slots.queued_ahead(waiter) if waiter is not None else slots.queued
                inp = self._decision_input(queued)
                result = ctx.controls.policy.decide(inp)
                if result.chosen is None:
                    self._set_decision(result, inp)
                    raise self._gave_up() if state.error is not None else RejectedError(result.reason)
                if not result.wait and slots.has_room(result.chosen, waiter):
                    self._set_decision(result, inp)
                    alternatives = sum(1 for c in result.candidates if c.excluded is None and c.endpoint != result.chosen)
                    last_chance = not alternatives or len(state.tried) + 1 >= ctx.settings.retry.max_attempts
                    return ctx.endpoints[result.chosen], last_chance
                # All full, or the free slot chosen is reserved for a waiter ahead (a decision does not see
                # reservations): take whichever eligible endpoint frees first. Otherwise the policy preferred
                # a busy endpoint over a free one: wait for that one.
                eligible = (
                    [c.endpoint for c in sorted(result.candidates, key=lambda c: c.score) if c.excluded is None]
                    if result.wait or slots.reserved_for_another(result.chosen, waiter)
                    else [result.chosen]
                )
                if waiter is None:
                    interactive = state.request.interactive
                    if not interactive:
                        self._shed_background(result, [e for e in inp.endpoints if e.id in eligible])
                    waiter = queue.enter_context(slots.waiting(Waiter(interactive=interactive, attributed=result.chosen)))
                try:
                    async with asyncio.timeout_at(asyncio.get_running_loop().time() + max(0.0, state.deadline - time.monotonic())):
                        await slots.sleep(waiter, eligible)
                except TimeoutError:
                    raise BackendError(ErrorKind.TIMED_OUT, f"no free slot within {ctx.settings.timeouts.total_s:.0f} s") from None

    def _shed_background(self, result: PolicyResult, eligible: Sequence[EndpointState]) -> None:
        """Shed a background request now, with a 503 and a time to retry, rather than let it wait
        for a slot its client will have given up on: when `admission.max_queued` others wait already,
        or when every eligible endpoint is full and its predicted wait exceeds `admission.patience_s`
        (only once one of them is measured: on a fleet that never answered, the seed service time
        is a guess, not a reason to refuse)."""
        admission = self._ctx.settings.admission
        wait_s = predicted_wait_s(eligible)
        if self._ctx.slots.total_queued() >= admission.max_queued:
            reason = f"shed: {counted(admission.max_queued, 'request')} already waiting for a slot (admission.max_queued)"
        elif result.wait and wait_s > admission.patience_s and any(service_time_s(e) is not None for e in eligible):
            reason = f"shed: predicted wait {wait_s:.1f} s > patience {admission.patience_s:g} s (admission.patience_s)"
        else:
            return
        self._set_decision(PolicyResult(None, result.candidates, reason), None)
        # By then the queue ahead of it has drained to within its patience, if nothing else arrives.
        retry_after_s = max(0.0, wait_s - admission.patience_s)
        raise RejectedError(f"server busy, please try again: {reason}", ErrorKind.BUSY, retry_after_s=retry_after_s)

    def _set_decision(self, result: PolicyResult, inp: DecisionInput | None) -> None:
        """Record the decision, with the prediction for its chosen endpoint (whichever policy chose it)."""
        state, controls = self.state, self._ctx.controls
        assert state.classification is not None
        prediction = None
        if inp is not None and result.chosen is not None:
            reading = self._ctx.settings.adaptive.reading_s_per_token
            prediction = prediction_for(inp, result.chosen, reading, time.monotonic() - state.started)
        task = state.classification.task
        pins = dict(controls.state.pins)
        if state.target_tier:
            pins[task.value] = state.target_tier
        state.decision = _new_decision(
            request_id=state.request_id,
            at=time.time(),
            classification=state.classification,
            policy=controls.state.policy,
            candidates=result.candidates,
            chosen=result.chosen,
            reason=result.reason,
            pins=pins,
            fallbacks=tuple(state.tried),
            client=state.request.client,
            prediction=prediction,
        )
        self._ctx.listeners.emit(state.decision)

    # -- attempts and failover -------------------------------------------------------------------

    @asynccontextmanager
    async def _first_answer(
        self,
        start: Callable[[Endpoint], Awaitable[Answer]],
        discard: Callable[[Answer], Awaitable[None]] | None = None,
        whole: bool = False,
    ) -> AsyncIterator[tuple[Attempt, Answer]]:
        """Admit, occupy a slot and `start` the request there, failing over until it answers.

        With `discard` (how to drop an answer that lost), a late first answer is hedged: see `_race`.
        Inside the block the winner's slot is still held and the first answer (the first chunk of a
        stream, or a whole embedding) has arrived; failover is over: whatever fails now is the caller's.
        A `whole` answer (a chat answered unstreamed) is awaited up to the total deadline and is no first token.
        """
        state = self.state
        while True:
            endpoint, last_chance = await self._admit()
            prediction = state.decision.prediction if state.decision else None
            attempt = state.attempt = self._dispatch(endpoint, prediction)
            try:
                try:
                    if discard is None:
                        answer = await self._until_first(attempt, start, last_chance, whole)
                    else:
                        attempt, answer = await self._race(attempt, start, discard, last_chance)
                except BackendError as error:  # every failed attempt is already recorded
                    if retryable(error) and self._may_retry():
                        continue
                    final = self._gave_up()
                    if final is error:
                        raise
                    raise final from error
                if not whole:
                    self._first_token(attempt)
                yield attempt, answer
                return
            finally:
                attempt.slot.close()

    def _dispatch(self, endpoint: Endpoint, prediction: Prediction | None, waiter: Waiter | None = None) -> Attempt:
        """Occupy a slot of `endpoint` (the caller checked it has room, or `waiter` holds it) and start an attempt there,
        predicted (`prediction`, for this endpoint from now) to hold the slot until its completion."""
        ctx = self._ctx
        now = time.monotonic()
        slot = ctx.slots.occupying(endpoint.id, waiter, now + prediction.completion_s if prediction else None)
        ctx.metrics[endpoint.id].dispatched(now)
        may_load = ctx.view.is_resident(endpoint) is not True
        predicted_ttft_s = prediction.ttft_s if prediction else None
        return Attempt(endpoint, now, ctx.breakers.on_dispatch(endpoint.id, now), slot, predicted_ttft_s, may_load)

    async def _until_first(
        self, attempt: Attempt, start: Callable[[Endpoint], Awaitable[Answer]], last_chance: bool, whole: bool = False
    ) -> Answer:
        """`start` on the attempt's endpoint within the first-token allowance (a `whole` answer: the
        total deadline); a failure is recorded, then raised."""
        ctx, loop = self._ctx, asyncio.get_running_loop()
        allowance = first_token_allowance_s(ctx.settings.timeouts, self.state.prompt_tokens) * (LAST_ATTEMPT_GRACE if last_chance else 1.0)
        allowance += self._load_allowance_s(attempt)
        deadline = _loop_deadline(loop, self.state.deadline)
        try:
            try:
                async with asyncio.timeout_at(deadline if whole else min(loop.time() + allowance, deadline)):
                    return await start(attempt.endpoint)
            except TimeoutError:
                missed = "no answer before the total deadline" if whole else f"no first token within {allowance:.1f} s"
                raise BackendError(ErrorKind.TIMED_OUT, missed) from None
        except BackendError as error:
            self._attempt_failed(attempt, error)
            raise

    async def _race(
        self,
        primary: Attempt,
        start: Callable[[Endpoint], Awaitable[Answer]],
        discard: Callable[[Answer], Awaitable[None]],
        last_chance: bool,
    ) -> tuple[Attempt, Answer]:
        """The first answer of `primary`, or of a hedge sent to the next-best endpoint when
        `primary` stays silent past its hedge delay (switch on, budget and a free slot allowing).
        The first first answer wins; the other attempt is cancelled, its slot freed, any answer it
        had already opened discarded (the caller gets exactly one answer) and its wait recorded
        as a censored first token (`EndpointMetrics.observe_censored_first_token`)."""
        ctx, loop = self._ctx, asyncio.get_running_loop()
        racing: dict[asyncio.Task[Answer], Attempt] = {loop.create_task(self._until_first(primary, start, last_chance)): primary}
        hedged_at: float | None = None
        try:
            delay = (
                ctx.hedger.delay_s(ctx.metrics[primary.endpoint.id], primary.predicted_ttft_s, time.monotonic())
                if ctx.controls.state.hedging
                else None
            )
            if delay is not None:
                # A model that may be loading is not late: a hedge would start a second cold load and,
                # if it won, abort the first (Ollama drops a load whose client went away).
                delay += self._load_allowance_s(primary)
                done, _ = await asyncio.wait(racing, timeout=max(0.0, primary.started + delay - time.monotonic()))
                hedge = None if done else await self._hedge_when_room(primary, racing)
                if hedge is not None:
                    hedged_at = time.monotonic() - primary.started
                    racing[loop.create_task(self._until_first(hedge, start, last_chance))] = hedge
            failure: BaseException | None = None
            while racing:
                done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda task: racing[task].started):  # answered together: the earlier attempt wins
                    attempt = racing.pop(task)
                    failure = task.exception()
                    if failure is not None:
                        attempt.slot.close()
                    else:
                        answer = task.result()
                        if hedged_at is not None:
                            self._hedge_resolved(attempt, primary, hedged_at, losers=racing)
                        self.state.attempt = attempt
                        return attempt, answer
            assert failure is not None
            raise failure
        finally:
            await self._cancel(racing, discard)

    async def _hedge_when_room(self, primary: Attempt, racing: Mapping[asyncio.Task[Answer], Attempt]) -> Attempt | None:
        """Once `primary` is late: a hedge on the best other endpoint with a free slot. With none free, the request
        waits for one in the line in its place by arrival, while the primary stays silent: the requests that queued
        after it arrived come after it (else a stall holds its slot and its caller through a burst, while they are
        served), those before it first (a hedge never takes a slot from a request ahead of it); it looks again
        whenever room may have appeared. None: the primary answered or failed first, nowhere else to go, no budget."""
        ctx, state = self._ctx, self.state
        target, eligible = self._hedge_target(primary)
        if target is not None:
            return self._hedge(target)
        if not eligible or not ctx.hedger.budget.can_spend():
            return None
        with ctx.slots.waiting(Waiter(interactive=state.request.interactive, attributed=eligible[0]), arrived=state.started) as waiter:
            while True:
                if await self._sleep_in_line(waiter, eligible, racing):
                    return None
                target, eligible = self._hedge_target(primary, waiter)
                if target is not None:
                    return self._hedge(target, waiter)
                if not eligible:
                    return None

    async def _sleep_in_line(self, waiter: Waiter, eligible: Sequence[str], racing: Mapping[asyncio.Task[Answer], Attempt]) -> bool:
        """Sleep in the line until a slot of `eligible` is reserved for `waiter`, an endpoint may have gained room
        otherwise (`SlotTable.next_change`: the servers' own counts re-read), or an attempt ends (True)."""
        slots = self._ctx.slots
        sleeper = asyncio.ensure_future(slots.sleep(waiter, eligible))
        change = slots.next_change()
        try:
            waits: list[asyncio.Future[Any]] = [*racing, sleeper, change]
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            change.cancel()
            sleeper.cancel()
            await asyncio.wait([sleeper])  # its bookkeeping undone before the next sleep
        return any(task in done for task in racing)

    async def _cancel(self, racing: dict[asyncio.Task[Answer], Attempt], discard: Callable[[Answer], Awaitable[None]]) -> None:
        """Cancel the attempts still racing: close what they opened, free their slots, no verdict on their endpoints."""
        for task in racing:
            task.cancel()
        for task, attempt in racing.items():
            try:
                answer = await task
            except BaseException:  # noqa: BLE001 - cancelled or failed: start() closed its stream
                pass
            else:  # it answered in the meantime: drop that answer
                await discard(answer)
            self._ctx.breakers.on_abandoned(attempt.endpoint.id, attempt.probe)
            attempt.slot.close()
            if self.state.attempt is attempt:  # so that finish() does not abandon it again
                self.state.attempt = None
        racing.clear()

    def _hedge_target(self, primary: Attempt, waiter: Waiter | None = None) -> tuple[tuple[DecisionInput, str] | None, list[str]]:
        """The best other endpoint for `primary`'s request that has a free slot now (or one reserved for `waiter`, its
        place in the line), by the signals the policies read (the server's own count where it reports one) and by this
        router's slot table. Without one: None, and the endpoints it may take when they free up, best first."""
        ctx = self._ctx
        slots = ctx.slots
        queued = slots.queued_ahead(waiter) if waiter is not None else dict(slots.queued)
        if waiter is not None and waiter.reservation is not None:
            # The line gave that slot to this request: the waiters ahead of it are bound elsewhere (woken for another
            # slot, not yet gone), so counting them as its queue would decline the slot, which the next waiter takes.
            queued[waiter.reservation] = 0
        inp = self._decision_input(queued)
        elsewhere = inp.excluded | {primary.endpoint.id}
        full = {e.id for e in inp.endpoints if not (has_free_slot(e) and slots.has_room(e.id, waiter))}
        with_room = replace(inp, excluded=elsewhere | full)
        result = ctx.controls.policy.decide(with_room)
        if result.chosen is not None and not result.wait:
            return (with_room, result.chosen), []
        anywhere = ctx.controls.policy.decide(replace(inp, excluded=elsewhere))
        return None, [c.endpoint for c in sorted(anywhere.candidates, key=lambda c: c.score) if c.excluded is None]

    def _hedge(self, target: tuple[DecisionInput, str], waiter: Waiter | None = None) -> Attempt | None:
        """A hedge on `target` (from `_hedge_target`, no await since), if the budget allows."""
        ctx = self._ctx
        if not ctx.hedger.budget.try_spend():
            ctx.hedger.denied += 1
            return None
        ctx.hedger.sent += 1
        inp, endpoint = target
        prediction = prediction_for(inp, endpoint, ctx.settings.adaptive.reading_s_per_token, time.monotonic() - self.state.started)
        return self._dispatch(ctx.endpoints[endpoint], prediction, waiter)

    def _hedge_resolved(self, winner: Attempt, primary: Attempt, hedged_at: float, losers: Mapping[asyncio.Task[Any], Attempt]) -> None:
        """Count the race's outcome, record how long each loser had waited in vain, and say it in the request's
        decision: "hedged after 1.2 s: coder@b won"."""
        state, ctx = self.state, self._ctx
        hedger = ctx.hedger
        hedger.won += winner is not primary
        hedger.cancelled += len(losers)
        now = time.monotonic()
        for task, loser in losers.items():
            if not task.done():  # still silent: its first token would have come later than now
                ctx.metrics[loser.endpoint.id].observe_censored_first_token(now - loser.started, now, loser.predicted_ttft_s)
        if state.decision is None:
            return
        reason = f"hedged after {hedged_at:.1f} s: {winner.endpoint.id} won; {state.decision.reason}"
        state.decision = replace(state.decision, chosen=winner.endpoint.id, reason=reason, at=time.time())
        self._ctx.listeners.emit(state.decision)

    def _load_allowance_s(self, attempt: Attempt) -> float:
        """Extra time for the first token when the model may have to be loaded first.

        A cut-off load is wasted (Ollama aborts it when the client goes away), so a model that is
        not known to be resident gets a few times its usual load time, or the whole request
        deadline when it has never been seen loading."""
        if not attempt.may_load:
            return 0.0
        load_s = self._ctx.metrics[attempt.endpoint.id].load_s.value
        return LOAD_ALLOWANCE_FACTOR * load_s if load_s is not None else self._ctx.settings.timeouts.total_s

    async def open_backend_stream(self, endpoint: Endpoint) -> DeltaStream:
        request: StreamRequest = self.state.request  # type: ignore[assignment]  # streams run only chat and generate requests
        backend = self._ctx.backends[endpoint.host]
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

    async def send_backend_embed(self, endpoint: Endpoint) -> Embeddings:
        request: EmbedRequest = self.state.request  # type: ignore[assignment]  # embeddings run only embed requests
        return await self._ctx.backends[endpoint.host].embed(
            endpoint.model,
            request.input,
            dimensions=request.dimensions,
            truncate=request.truncate,
            options=request.options,
            keep_alive=request.keep_alive,
        )

    def relay_opener(self, relay: Relay) -> StreamOpener[RawChunk]:
        """The caller's relay for endpoints speaking its dialect, the backend translated for the others."""

        async def open_stream(endpoint: Endpoint) -> AsyncGenerator[RawChunk, None]:
            translator = relay.translator
            if translator is None or self._speaks(endpoint, relay.apis):
                return await relay.open(endpoint)
            return _translated(await self.open_backend_stream(endpoint), translator())

        return open_stream

    def relay_sender(self, relay: RelayEmbed) -> Callable[[Endpoint], Awaitable[RawReply]]:
        async def send(endpoint: Endpoint) -> RawReply:
            translated = relay.translated
            if translated is None or self._speaks(endpoint, relay.apis):
                return await relay.send(endpoint)
            return translated(await self.send_backend_embed(endpoint))

        return send

    def _speaks(self, endpoint: Endpoint, apis: frozenset[str]) -> bool:
        return self._ctx.settings.host(endpoint.host).api in apis

    def _first_token(self, attempt: Attempt, decoding_s: float = 0.0) -> None:
        """The attempt's first token came `decoding_s` ago (0: now)."""
        now = time.monotonic()
        attempt.ttft_s = max(0.0, now - attempt.started - decoding_s)
        self.state.ttft_s = max(0.0, now - self.state.started - decoding_s)
        metrics = self._ctx.metrics[attempt.endpoint.id]
        if attempt.may_load:
            metrics.answering(now)
        else:
            metrics.observe_first_token(attempt.ttft_s, now, attempt.predicted_ttft_s)

    def _observe_first_token_late(self, attempt: Attempt, timings: FinalTimings | None, now: float) -> None:
        """The first token of an attempt that may have loaded its model, as it ends: less the load its final
        `timings` report, or whole when it ended without them (its load unknown)."""
        if attempt.may_load and attempt.ttft_s is not None:
            metrics = self._ctx.metrics[attempt.endpoint.id]
            metrics.observe_first_token(attempt.ttft_s, now, attempt.predicted_ttft_s, metrics.cold_load(timings))

    def _whole_first_token(self, attempt: Attempt, final: FinalTimings | None) -> None:
        """An answer that came whole has no first token to time; it came when the server began decoding,
        the server's decode time before now. Without that figure, no TTFT. Not whole (a translated stream's
        first chunk): now."""
        if final is None:
            self._first_token(attempt)
        elif final.decode_s is not None:
            self._first_token(attempt, final.decode_s)

    def _attempt_succeeded(self, attempt: Attempt) -> None:
        state, ctx = self.state, self._ctx
        now = time.monotonic()
        latency = now - attempt.started
        endpoint = attempt.endpoint
        self._observe_first_token_late(attempt, state.timings, now)
        ctx.metrics[endpoint.id].observe_success(latency, state.timings, now, attempt.ttft_s)
        ctx.breakers.on_success(endpoint.id, now)
        ctx.health.refresh_soon(endpoint.host)
        output_tokens = state.timings.output_tokens if state.timings else None
        # The tier's cost is its serving time: a model load is predicted apart, when the model is not resident.
        ttft_s = None if attempt.ttft_s is None else max(0.0, attempt.ttft_s - ctx.metrics[endpoint.id].cold_load(state.timings))
        ctx.feedback.observe(self._task(), endpoint.tier, ok=True, ttft_s=ttft_s, at=time.time(), output_tokens=output_tokens)
        if state.session is not None:  # its slot now holds the prompt and the answer
            ctx.sessions.remember(state.session, endpoint.id, state.prompt_tokens + (output_tokens or 0), now)
        state.outcome = Outcome.OK
        state.attempt = None

    def _attempt_failed(self, attempt: Attempt, error: BackendError) -> None:
        state, ctx = self.state, self._ctx
        now = time.monotonic()
        endpoint = attempt.endpoint
        self._observe_first_token_late(attempt, None, now)
        ctx.metrics[endpoint.id].observe_error(error.kind, now - attempt.started, now)
        if error.kind in FAILURE_KINDS:
            ctx.breakers.on_failure(endpoint.id, error.kind, now)
            ctx.feedback.observe(self._task(), endpoint.tier, ok=False, ttft_s=attempt.ttft_s, at=time.time())
        else:
            ctx.breakers.on_abandoned(endpoint.id, attempt.probe)
        state.tried[endpoint.id] = error
        state.error = error
        state.attempt = None

    def _may_retry(self) -> bool:
        return len(self.state.tried) < self._ctx.settings.retry.max_attempts and self._ctx.retry_budget.try_spend(time.monotonic())

    def _gave_up(self) -> BackendError:
        assert self.state.error is not None
        return gave_up(self.state.tried, self.state.error)

    def _task(self) -> Task:
        return self.state.classification.task if self.state.classification else Task.SIMPLE

    # -- record ------------------------------------------------------------------------------------

    @contextmanager
    def _recorded(self) -> Iterator[None]:
        """Whatever happens inside, the request ends with exactly one RequestRecord."""
        try:
            yield
        except BackendError as error:
            self.state.outcome = Outcome.REJECTED if isinstance(error, RejectedError) else Outcome.ERROR
            self.state.error = error
            raise
        finally:
            self.finish()

    def finish(self) -> None:
        """Emit the request's one RequestRecord (idempotent)."""
        state, ctx = self.state, self._ctx
        if state.record is not None:
            return
        now = time.monotonic()
        if state.attempt is not None:  # cancelled mid-attempt: no verdict on the endpoint
            self._observe_first_token_late(state.attempt, None, now)
            ctx.breakers.on_abandoned(state.attempt.endpoint.id, state.attempt.probe)
            state.attempt = None
        endpoint = ctx.endpoints.get(state.decision.chosen) if state.decision and state.decision.chosen else None
        error = state.error if state.outcome in (Outcome.ERROR, Outcome.REJECTED) else None
        state.record = _new_record(
            request_id=state.request_id,
            decision=state.decision or self._undecided(),
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
            prompt=state.request.prompt_text() if ctx.settings.journal.store_prompts else None,
        )
        ctx.traffic.ended(state.outcome, now, shed=isinstance(error, RejectedError) and error.shed)
        ctx.listeners.emit(state.record)

    def _undecided(self) -> Decision:
        """The decision of a request that ended before one was made (cancelled or failed early)."""
        state = self.state
        classification = state.classification or Classification(Task.SIMPLE, 0.0, "not classified", "none")
        reason = f"{state.outcome.value} before routing" + (f": {state.error.message}" if state.error else "")
        return Decision(
            state.request_id,
            state.started_at,
            classification,
            self._ctx.controls.state.policy,
            (),
            None,
            reason,
            client=state.request.client,
        )


class IdleTimer:
    """The idle-between-chunks and total deadlines of one stream.

    `asyncio.timeout` per chunk costs a timer allocation per chunk; this keeps one timer per
    stream and re-arms it lazily: when it fires early (chunks kept coming) it moves itself to the
    current limit, and only a wait that really passed the limit is cancelled (like
    asyncio.timeout, it tells its own cancellation from anyone else's with `uncancel`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle_s: float, deadline: float) -> None:
        self._loop = loop
        self._idle_s = idle_s
        self._deadline = deadline
        self._limit = deadline
        self._waiting: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    async def next_chunk(self, upstream: AsyncGenerator[P, None]) -> P | None:
        """The next chunk, or None at the end of the stream; BackendError(timed_out) when stalled."""
        limit = self._loop.time() + self._idle_s
        self._limit = limit if limit < self._deadline else self._deadline
        self._waiting = asyncio.current_task()
        if self._handle is None:
            self._handle = self._loop.call_at(self._limit, self._check)
        try:
            return await upstream.__anext__()
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:
            if self._expired and self._waiting is not None and self._waiting.uncancel() == 0:
                raise BackendError(ErrorKind.TIMED_OUT, f"stalled: no chunk for {self._idle_s:.1f} s, or past the total deadline") from None
            raise
        finally:
            self._waiting = None

    def _check(self) -> None:
        self._handle = None
        if self._waiting is None:
            return  # not waiting now: the next wait arms a new timer
        if self._loop.time() >= self._limit:
            self._expired = True
            self._waiting.cancel()
        else:
            self._handle = self._loop.call_at(self._limit, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def _translated(deltas: DeltaStream, translate: Callable[[Delta], RawChunk]) -> AsyncGenerator[RawChunk, None]:
    try:
        async for delta in deltas:
            yield translate(delta)
    finally:
        await deltas.aclose()


def _loop_deadline(loop: asyncio.AbstractEventLoop, deadline: float) -> float:
    """A monotonic deadline on the loop's clock."""
    return loop.time() + (deadline - time.monotonic())

"""Dispatch of one routed request: attempts, the three timers, pre-token failover, the result.

`RoutedStream` is what `router.chat()` / `router.generate()` return: an async iterator of the
upstream chunks. Everything a request does happens inside one async generator, so that
cancellation (task cancel or `aclose()`) reaches the upstream stream and the `finally` blocks
that free slots and emit the record always run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from zeta_console.backends.types import BackendError, Delta, DeltaStream, Embeddings, FinalTimings
from zeta_console.router.api import Classification, Decision, ErrorKind, Outcome, RequestRecord
from zeta_console.router.metrics import DecayedCount
from zeta_console.settings import RetryBudget as RetryBudgetConfig
from zeta_console.settings import Timeouts

if TYPE_CHECKING:
    from zeta_console.router.router import Endpoint, ZetaDynamicRouter
    from zeta_console.router.requests import AnyRequest, EmbedRequest, StreamRequest

Answer = TypeVar("Answer")

RETRY_BUDGET_HALF_LIFE_S = 10.0
LAST_ATTEMPT_GRACE = 2.0  # the last attempt gets this many times the first-token allowance


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
    ttft_s: float | None = None


class RejectedError(BackendError):
    """No endpoint can take the request (nothing capable, all drained, unknown target), or it was
    shed (kind BUSY: the queue is full or the wait too long; `retry_after_s` says when to retry)."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.UNAVAILABLE, retry_after_s: float | None = None) -> None:
        super().__init__(kind, message)
        self.retry_after_s = retry_after_s


class AttemptsFailed(BackendError):
    """A request that failed on several endpoints: its message names each and why; its kind and
    status are the last failure's (`last`)."""

    def __init__(self, tried: dict[str, BackendError]) -> None:
        self.tried = dict(tried)
        self.last = list(tried.values())[-1]
        super().__init__(self.last.kind, "; ".join(f"{endpoint}: {error.message}" for endpoint, error in tried.items()), self.last.status)


def gave_up(state: RequestState) -> BackendError:
    """The error of a request that stops trying: its only failure, or every endpoint tried and why."""
    assert state.error is not None
    return AttemptsFailed(state.tried) if len(state.tried) > 1 else state.error


class RetryBudget:
    """Retries may add at most `ratio` of recent requests plus `min_per_s` (Linkerd's budget)."""

    def __init__(self, config: RetryBudgetConfig) -> None:
        self._config = config
        self._requests = DecayedCount(RETRY_BUDGET_HALF_LIFE_S)
        self._retries = DecayedCount(RETRY_BUDGET_HALF_LIFE_S)
        self._floor = config.min_per_s * RETRY_BUDGET_HALF_LIFE_S / 0.6931471805599453  # the decayed window's length

    def on_request(self, now: float) -> None:
        self._requests.add(now)

    def try_spend(self, now: float) -> bool:
        if self._retries.value(now) + 1 > self._config.ratio * self._requests.value(now) + self._floor:
            return False
        self._retries.add(now)
        return True


def first_token_allowance_s(timeouts: Timeouts, prompt_tokens: int) -> float:
    """Prefill is silent: the first token may take longer the longer the prompt."""
    return timeouts.first_token_s + timeouts.first_token_per_1k_prompt_tokens_s * prompt_tokens / 1000.0


def retryable(error: BackendError) -> bool:
    return error.kind is not ErrorKind.BAD_REQUEST


class RoutedStream:
    """The answer to one routed chat/generate: iterate it, or `aclose()` it to cancel."""

    def __init__(self, router: ZetaDynamicRouter, state: RequestState) -> None:
        self._router = router
        self._state = state
        self._chunks = run_stream(router, state)
        self._started = False

    @property
    def request_id(self) -> str:
        return self._state.request_id

    @property
    def decision(self) -> Decision | None:
        """The decision in force; it changes when the request fails over before its first token."""
        return self._state.decision

    @property
    def record(self) -> RequestRecord | None:
        """The RequestRecord, once the request has finished."""
        return self._state.record

    def __aiter__(self) -> AsyncIterator[Delta]:
        # `async for` iterates the generator itself: no extra call per chunk.
        self._started = True
        return self._chunks

    async def __anext__(self) -> Delta:
        self._started = True
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        if not self._started:  # never iterated: the generator's own `finally` will not run
            self._started = True
            self._router.finish(self._state)
        await self._chunks.aclose()

    async def __aenter__(self) -> RoutedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


@contextmanager
def _recorded(router: ZetaDynamicRouter, state: RequestState) -> Iterator[None]:
    """Whatever happens inside, the request ends with exactly one RequestRecord."""
    try:
        yield
    except BackendError as error:
        state.outcome = Outcome.REJECTED if isinstance(error, RejectedError) else Outcome.ERROR
        state.error = error
        raise
    finally:
        router.finish(state)


@asynccontextmanager
async def _first_answer(router: ZetaDynamicRouter, state: RequestState, start: Callable[[Endpoint], Awaitable[Answer]]) -> AsyncIterator[tuple[Attempt, Answer]]:
    """Admit, occupy a slot and `start` the request there, failing over until it answers.

    Inside the block the slot is still held and the first answer (the first chunk of a stream,
    or a whole embedding) has arrived; failover is over: whatever fails now is the caller's.
    """
    loop = asyncio.get_running_loop()
    while True:
        endpoint, last_chance = await router.admit(state)
        with router.slots.occupying(endpoint.id):
            attempt = router.begin_attempt(state, endpoint)
            allowance = first_token_allowance_s(router.settings.timeouts, state.prompt_tokens) * (LAST_ATTEMPT_GRACE if last_chance else 1.0)
            allowance += router.load_allowance_s(endpoint)
            try:
                try:
                    async with asyncio.timeout_at(min(loop.time() + allowance, _loop_deadline(loop, state))):
                        answer = await start(endpoint)
                except TimeoutError:
                    raise BackendError(ErrorKind.TIMED_OUT, f"no first token within {allowance:.1f} s") from None
            except BackendError as error:
                router.attempt_failed(state, attempt, error)
                if retryable(error) and router.may_retry(state):
                    continue
                final = gave_up(state)
                if final is error:
                    raise
                raise final from error
            router.first_token(state, attempt)
            yield attempt, answer
            return


async def run_stream(router: ZetaDynamicRouter, state: RequestState) -> DeltaStream:
    """Try endpoints until one produces a first token; then relay its chunks to the end.

    One generator for the whole request (no nesting): every extra layer costs on every chunk."""
    request: StreamRequest = state.request  # type: ignore[assignment]
    idle_s = router.settings.timeouts.idle_s
    loop = asyncio.get_running_loop()

    async def start(endpoint: Endpoint) -> tuple[DeltaStream, Delta]:
        upstream = await router.open_stream(endpoint, request)
        try:
            first = await upstream.__anext__()
        except StopAsyncIteration:
            await upstream.aclose()
            raise BackendError(ErrorKind.FAILED_MID_STREAM, "the stream ended before the first token") from None
        except BaseException:  # failed, timed out or cancelled: close the connection now
            await upstream.aclose()
            raise
        return upstream, first

    with _recorded(router, state):
        await router.classify(state)
        async with _first_answer(router, state, start) as (attempt, (upstream, chunk)):
            idle = IdleTimer(loop, idle_s, _loop_deadline(loop, state))
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
                router.attempt_failed(state, attempt, error)
                raise
            finally:
                idle.stop()
                await upstream.aclose()
            router.attempt_succeeded(state, attempt)


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

    async def next_chunk(self, upstream: DeltaStream) -> Delta | None:
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


async def run_embed(router: ZetaDynamicRouter, state: RequestState) -> Embeddings:
    request: EmbedRequest = state.request  # type: ignore[assignment]
    with _recorded(router, state):
        await router.classify(state)
        async with _first_answer(router, state, lambda endpoint: router.send_embed(endpoint, request)) as (attempt, response):
            state.timings = response.timings
            router.attempt_succeeded(state, attempt)
    return response


def _loop_deadline(loop: asyncio.AbstractEventLoop, state: RequestState) -> float:
    """The request's total deadline (monotonic) on the loop's clock."""
    return loop.time() + (state.deadline - time.monotonic())


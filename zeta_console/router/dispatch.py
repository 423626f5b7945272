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
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import ollama

from zeta_console.backends.ollama import BackendError, FinalTimings, final_timings
from zeta_console.router.api import Classification, Decision, ErrorKind, Outcome, RequestRecord
from zeta_console.router.metrics import DecayedCount
from zeta_console.settings import RetryBudget as RetryBudgetConfig
from zeta_console.settings import Timeouts

if TYPE_CHECKING:
    from zeta_console.router.router import Endpoint, ZetaDynamicRouter
    from zeta_console.router.requests import AnyRequest, EmbedRequest, StreamRequest

Chunk = TypeVar("Chunk", ollama.ChatResponse, ollama.GenerateResponse)
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
    tried: list[str] = field(default_factory=list)  # endpoints that failed before the first token
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
    """No endpoint can take the request (nothing capable, all drained, unknown target)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorKind.UNAVAILABLE, message)


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


class RoutedStream(Generic[Chunk]):
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

    def __aiter__(self) -> RoutedStream[Chunk]:
        return self

    async def __anext__(self) -> Chunk:
        self._started = True
        return await self._chunks.__anext__()  # type: ignore[return-value]

    async def aclose(self) -> None:
        if not self._started:  # never iterated: the generator's own `finally` will not run
            self._started = True
            self._router.finish(self._state)
        await self._chunks.aclose()

    async def __aenter__(self) -> RoutedStream[Chunk]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def run_stream(router: ZetaDynamicRouter, state: RequestState) -> AsyncIterator[Chunk]:
    """Try endpoints until one produces a first token; then relay its chunks to the end."""
    with _recorded(router, state):
        await router.classify(state)
        async with aclosing(_stream_attempts(router, state)) as chunks:  # closed now, not when collected
            async for chunk in chunks:
                yield chunk


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
                raise
            router.first_token(state, attempt)
            yield attempt, answer
            return


async def _stream_attempts(router: ZetaDynamicRouter, state: RequestState) -> AsyncIterator[Chunk]:
    request: StreamRequest = state.request  # type: ignore[assignment]
    idle_s = router.settings.timeouts.idle_s
    loop = asyncio.get_running_loop()

    async def start(endpoint: Endpoint) -> tuple[AsyncIterator[Chunk], Chunk]:
        upstream: AsyncIterator[Chunk] = router.open_stream(endpoint, request)
        try:
            first = await upstream.__anext__()
        except StopAsyncIteration:
            await upstream.aclose()  # type: ignore[attr-defined]
            raise BackendError(ErrorKind.FAILED_MID_STREAM, "the stream ended before the first token") from None
        except BaseException:  # failed, timed out or cancelled: close the connection now
            await upstream.aclose()  # type: ignore[attr-defined]
            raise
        return upstream, first

    async with _first_answer(router, state, start) as (attempt, (upstream, chunk)):
        try:
            while not chunk.done:
                yield chunk
                following = await _next_chunk(upstream, min(loop.time() + idle_s, _loop_deadline(loop, state)), idle_s)
                if following is None:
                    raise BackendError(ErrorKind.FAILED_MID_STREAM, "the stream ended without a final chunk")
                chunk = following
            state.timings = final_timings(chunk)
            # Read the stream to its end before handing over the last chunk: a fully read response
            # returns its connection to the pool even if the consumer stops here.
            if await _next_chunk(upstream, min(loop.time() + idle_s, _loop_deadline(loop, state)), idle_s) is not None:
                raise BackendError(ErrorKind.FAILED_MID_STREAM, "data after the final chunk")
            yield chunk
        except BackendError as error:
            # After the first token an error is the caller's error: never splice another model's text.
            router.attempt_failed(state, attempt, error)
            raise
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]
        router.attempt_succeeded(state, attempt)


async def _next_chunk(upstream: AsyncIterator[Chunk], deadline: float, idle_s: float) -> Chunk | None:
    """The next chunk within the idle timer; None at the end of the stream."""
    try:
        async with asyncio.timeout_at(deadline):
            return await upstream.__anext__()
    except StopAsyncIteration:
        return None
    except TimeoutError:
        raise BackendError(ErrorKind.TIMED_OUT, f"stalled: no chunk for {idle_s:.1f} s, or past the total deadline") from None


async def run_embed(router: ZetaDynamicRouter, state: RequestState) -> ollama.EmbedResponse:
    request: EmbedRequest = state.request  # type: ignore[assignment]
    with _recorded(router, state):
        await router.classify(state)
        async with _first_answer(router, state, lambda endpoint: router.send_embed(endpoint, request)) as (attempt, response):
            state.timings = final_timings(response)
            router.attempt_succeeded(state, attempt)
    return response


def _loop_deadline(loop: asyncio.AbstractEventLoop, state: RequestState) -> float:
    """The request's total deadline (monotonic) on the loop's clock."""
    return loop.time() + (state.deadline - time.monotonic())


"""Running one request on the emulated host: wait for the model and a slot, then pace the output.

Chat/generate yield `Piece`s at the model's (contended) decode rate, then one `Finished` with
the metrics. Durations are measured on the wall clock, so they agree with the client's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from zeta_console.ollama_api.errors import ApiError
from zeta_console.sim.content import Completion, assistant_block, count_tokens, embedding
from zeta_console.sim.engine import HostEngine, Work
from zeta_console.sim.faults import RUNNER_STOPPED, RequestFaults
from zeta_console.sim.latency import RequestPace
from zeta_console.sim.parsing import CompletionRequest, EmbedRequest
from zeta_console.sim.wire import Metrics

YIELD_EVERY_TOKENS = 16
# Shorter waits are not worth a timer (epoll rounds them up to 1 ms); while decoding, the
# running deadline makes up for them at the next real sleep.
MIN_SLEEP_S = 0.0005


class MidStreamFailure(Exception):
    """The runner broke after output was sent: an `{"error": ...}` line ends the stream."""


class DropConnection(Exception):
    """The socket is to be cut without a word."""


@dataclass(frozen=True)
class Piece:
    thinking: str
    content: str


@dataclass(frozen=True)
class Finished:
    done_reason: str
    metrics: Metrics


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


async def _prefill(pace: RequestPace, faults: RequestFaults, prompt_tokens: int) -> None:
    if faults.fail_now:
        raise ApiError(500, RUNNER_STOPPED)
    delay = pace.prefill_s(prompt_tokens) * faults.prefill_factor + pace.simulated_s(faults.stall_s)
    if delay > MIN_SLEEP_S:
        await asyncio.sleep(delay)


def _stall_s(pace: RequestPace, faults: RequestFaults, prompt_tokens: int) -> float:
    """The silence a fault adds before the first token (the true state's predictions count it)."""
    return pace.simulated_s(faults.stall_s) + pace.prefill_s(prompt_tokens) * (faults.prefill_factor - 1.0)


def _failure(faults: RequestFaults, chunks_sent: int) -> Exception:
    """How a broken runner shows: a cut socket, a 500 before any output, or an error line after."""
    if faults.drop_connection:
        return DropConnection()
    return MidStreamFailure(RUNNER_STOPPED) if chunks_sent else ApiError(500, RUNNER_STOPPED)


async def run_completion(
    engine: HostEngine, request: CompletionRequest, completion: Completion, pace: RequestPace, faults: RequestFaults
) -> AsyncIterator[Piece | Finished]:
    tokens = [(text, "") for text in completion.thinking] + [("", text) for text in completion.content]
    work = Work(pace, request.prompt_tokens, len(tokens), _stall_s(pace, faults, request.prompt_tokens), request.blocks)
    started = time.perf_counter()
    if faults.drop_connection and faults.fail_after_chunks is None:
        raise DropConnection()
    async with engine.runner(request.profile, request.keep_alive_s, work) as runtime, engine.slot(runtime, work) as cache:
        ready = time.perf_counter()
        cached = cache.reuse(request.blocks, request.prompt_tokens)
        work.prompt_tokens = request.prompt_tokens - cached
        await _prefill(pace, faults, work.prompt_tokens)
        cache.hold(request.blocks)
        work.stall_s = 0.0
        prefilled = time.perf_counter()
        loop = asyncio.get_running_loop()
        due = loop.time()
        for index, (thinking, content) in enumerate(tokens):
            if index == faults.fail_after_chunks:
                raise _failure(faults, index)
            due += pace.token_s(runtime.busy)
            delay = due - loop.time()
            if delay > MIN_SLEEP_S:
                await asyncio.sleep(delay)
            elif index % YIELD_EVERY_TOKENS == 0:
                await asyncio.sleep(0)  # even unpaced, give the loop a turn to notice a disconnect
            work.tokens_left -= 1
            yield Piece(thinking, content)
        if faults.fail_after_chunks is not None and faults.fail_after_chunks >= len(tokens) > 0:
            raise _failure(faults, len(tokens))
        cache.hold((*request.blocks, assistant_block("".join(completion.content))))
        finished = time.perf_counter()
    metrics = Metrics(
        total_ns=_ns(finished - started),
        load_ns=_ns(ready - started),
        prompt_eval_count=work.prompt_tokens,  # as Ollama counts: the evaluated part only
        prompt_eval_cached_count=cached,
        prompt_eval_ns=_ns(prefilled - ready),
        eval_count=len(tokens),
        eval_ns=_ns(finished - prefilled),
    )
    yield Finished(completion.done_reason, metrics)


async def load_only(engine: HostEngine, request: CompletionRequest | EmbedRequest, pace: RequestPace) -> str:
    """A request without input: load (done_reason "load") or, with keep_alive 0, unload."""
    if request.keep_alive_s == 0:
        engine.unload(request.profile.name)
        return "unload"
    async with engine.runner(request.profile, request.keep_alive_s, Work(pace, 0, 0)):
        return "load"


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]
    metrics: Metrics


async def run_embedding(
    engine: HostEngine, request: EmbedRequest, pace: RequestPace, faults: RequestFaults, *, normalise: bool
) -> Embedded:
    """One slot pass per input, in order: embedding runners have a single slot."""
    if faults.drop_connection:
        raise DropConnection()
    token_counts = [count_tokens(text) for text in request.inputs]
    work = Work(pace, sum(token_counts), 0, _stall_s(pace, faults, sum(token_counts)))
    started = time.perf_counter()
    vectors = []
    async with engine.runner(request.profile, request.keep_alive_s, work) as runtime:
        ready = time.perf_counter()
        native = request.profile.embedding_length
        for text, tokens in zip(request.inputs, token_counts, strict=True):
            async with engine.slot(runtime, work):
                await _prefill(pace, faults, tokens)
                faults = RequestFaults(slow_factor=faults.slow_factor)  # a stall or failure strikes once
            work.prompt_tokens -= tokens
            vectors.append(embedding(text, native, request.dimensions, normalise=normalise))
        finished = time.perf_counter()
    metrics = Metrics(
        total_ns=_ns(finished - started),
        load_ns=_ns(ready - started),
        prompt_eval_count=sum(token_counts),
        prompt_eval_ns=0,
        eval_count=0,
        eval_ns=0,
    )
    return Embedded(vectors, metrics)

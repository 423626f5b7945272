"""The load generator every contender shares: replay a trace at its arrival instants.

Each contender (a Zeta policy, a LiteLLM strategy) gets a fresh emulator fleet and the very
same trace; only the object that routes a request differs. The generator fires each request at
`at_s / time_scale` wall seconds after the start without waiting for earlier ones (open loop),
and stops waiting at a deadline: whatever has not answered by then is counted as lost. A later
turn of a conversation is the exception: it is sent `think_s` after its previous turn's answer
ended, with the whole conversation so far (that answer included) as its messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from zeta_console.benchmark.results import Calibration, ContenderRun, Fate, RequestResult
from zeta_console.benchmark.stats import percentile
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.settings import Task

TOKEN_TEXT = "tok "  # four characters: one token by the router's and the emulator's estimate
LAG_PROBE_INTERVAL_S = 0.01


@dataclass(frozen=True)
class Served:
    """What a contender observed for one request, in wall seconds."""

    fate: Fate
    endpoint: str | None = None
    ttft_s: float | None = None
    total_s: float | None = None
    fallbacks: int = 0
    failed_after_first_token: bool = False
    error: str | None = None
    calibration: Calibration | None = None  # the router's prediction for the endpoint it chose, and what it measured
    reply: str = ""  # the answer's text (a conversation sends it back in its next turn)
    answer_intact: bool | None = None  # None: not checked
    prompt_tokens: int | None = None  # as the server counted them (None: it did not say)
    cached_prompt_tokens: int | None = None  # of those, reused from its prompt cache (llama.cpp's cache_n)
    stalled: bool | None = None  # an emulated host made it a straggler (None: not known)


Message = Mapping[str, str]


class Contender(Protocol):
    name: str

    async def serve(self, request: TraceRequest, messages: Sequence[Message]) -> Served:
        """Send `messages` (a chat's whole context; an embedding embeds the last one's text)."""
        ...


def prompt_text(tokens: int) -> str:
    return TOKEN_TEXT * tokens


def opening_messages(request: TraceRequest) -> list[Message]:
    """A request's messages before any history: its question, after its chat's system prompt. Each
    names its request (or chat), so that no two requests of a trace share a prompt, or a prompt cache."""
    if request.conversation is None:
        return [{"role": "user", "content": f"{request.request_id}: {prompt_text(request.prompt_tokens)}"}]
    question = {"role": "user", "content": f"chat {request.conversation} turn {request.turn}: {prompt_text(request.prompt_tokens)}"}
    if request.turn:
        return [question]
    return [{"role": "system", "content": f"chat {request.conversation}: {prompt_text(request.system_tokens)}"}, question]


async def _measure_loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        expected = time.perf_counter() + LAG_PROBE_INTERVAL_S
        await asyncio.sleep(LAG_PROBE_INTERVAL_S)
        samples.append(max(0.0, time.perf_counter() - expected))


async def replay(
    contender: Contender,
    trace: Sequence[TraceRequest],
    *,
    scenario: str,
    duration_s: float,
    time_scale: float,
    drain_s: float,
    preferred_tiers: Mapping[Task, str],
    straggled: Callable[[list[str]], bool] | None = None,
) -> ContenderRun:
    """Replay `trace` (scenario seconds) and wait up to `drain_s` scenario seconds after its end. `straggled`: whether
    a host made a chat of these message contents a straggler, noted on each request."""
    started = time.perf_counter()
    deadline = started + (duration_s + drain_s) / time_scale
    lags: list[float] = []
    stop_probe = asyncio.Event()
    probe = asyncio.create_task(_measure_loop_lag(lags, stop_probe))

    answered: dict[int, asyncio.Future[Served]] = {request.index: asyncio.get_running_loop().create_future() for request in trace}
    contexts: dict[int, list[Message]] = {}  # conversation -> its messages so far
    sent_at: dict[int, float] = {}  # later turns: when they were really sent, scenario seconds

    async def fire(request: TraceRequest) -> Served:
        if request.follows is None:
            await asyncio.sleep(max(0.0, started + request.at_s / time_scale - time.perf_counter()))
        else:
            await answered[request.follows]
            await asyncio.sleep(request.think_s / time_scale)
            sent_at[request.index] = (time.perf_counter() - started) * time_scale
        context = contexts.setdefault(request.conversation, []) if request.conversation is not None else []
        messages = [*context, *opening_messages(request)]
        try:
            served = await asyncio.wait_for(contender.serve(request, messages), timeout=max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            served = Served(Fate.LOST, error="no answer before the run's deadline")
        if straggled is not None:
            served = replace(served, stalled=straggled([message["content"] for message in messages]))
        if request.conversation is not None and served.fate is Fate.OK:  # a failed turn is not part of the context
            context.extend([*messages[len(context) :], {"role": "assistant", "content": served.reply}])
        answered[request.index].set_result(served)
        return served

    try:
        served = await asyncio.gather(*(fire(request) for request in trace))
    finally:
        stop_probe.set()
        await probe
    lag = percentile(lags, 99)
    return ContenderRun(
        contender=contender.name,
        scenario=scenario,
        time_scale=time_scale,
        duration_s=duration_s,
        wall_s=time.perf_counter() - started,
        loop_lag_p99_ms=lag * 1000 if lag is not None else None,
        results=tuple(
            _to_scenario_time(replace(request, at_s=sent_at.get(request.index, request.at_s)), outcome, time_scale, preferred_tiers)
            for request, outcome in zip(trace, served, strict=True)
        ),
    )


def _to_scenario_time(request: TraceRequest, served: Served, time_scale: float, preferred_tiers: Mapping[Task, str]) -> RequestResult:
    def scaled(seconds: float | None) -> float | None:
        return seconds * time_scale if seconds is not None else None

    return RequestResult(
        index=request.index,
        task=request.task,
        at_s=request.at_s,
        fate=served.fate,
        preferred_tier=preferred_tiers[request.task],
        endpoint=served.endpoint,
        ttft_s=scaled(served.ttft_s),
        total_s=scaled(served.total_s),
        fallbacks=served.fallbacks,
        failed_after_first_token=served.failed_after_first_token,
        error=served.error,
        calibration=served.calibration.scaled(time_scale) if served.calibration else None,
        conversation=request.conversation,
        turn=request.turn,
        answer_intact=served.answer_intact,
        prompt_tokens=served.prompt_tokens,
        cached_prompt_tokens=served.cached_prompt_tokens,
        stalled=served.stalled,
    )

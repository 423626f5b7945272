"""A Zeta policy as a contender: the real ZetaDynamicRouter over HTTP to the emulator.

Each trace request carries its index in the request's `client` tag, so its RequestRecord (the
router's own account: endpoint, fallbacks, error kind) can be matched to what the client saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from zeta_console.backends.types import FinalTimings
from zeta_console.benchmark.results import Calibration, Fate
from zeta_console.benchmark.runner import Message, Served
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.router.api import ErrorKind, Outcome, RequestRecord, RouterEvent
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Task

CLIENT_PREFIX = "bench:"

# (endpoint id, message contents, num_predict) -> the whole answer that endpoint's host gives
ExpectedAnswer = Callable[[str, list[str], int], str]


class ZetaContender:
    def __init__(self, name: str, router: ZetaDynamicRouter, expected: ExpectedAnswer | None = None, *, streamed: bool = False) -> None:
        """With `expected`, every streamed answer is checked byte for byte: the caller's text must be
        exactly the serving host's whole answer (nothing duplicated, nothing spliced from another).
        `streamed`: the callers read a stream (the router ranks by what a reader waits for), not programs
        that use the whole answer."""
        self.name = name
        self._streamed = streamed
        self._router = router
        self._expected = expected
        self._records: dict[str, RequestRecord] = {}
        router.subscribe(self._on_event)

    def _on_event(self, event: RouterEvent) -> None:
        if isinstance(event, RequestRecord) and event.decision.client.startswith(CLIENT_PREFIX):
            self._records[event.decision.client] = event

    async def serve(self, request: TraceRequest, messages: Sequence[Message]) -> Served:
        client = f"{CLIENT_PREFIX}{request.index}"
        started = time.perf_counter()
        first_token_s: float | None = None
        reply: list[str] = []
        final: FinalTimings | None = None  # the server's counts, on the last delta of an answer
        try:
            if request.task is Task.EMBEDDING:
                await self._router.embed(EmbedRequest(input=messages[-1]["content"], client=client))
                first_token_s = time.perf_counter() - started
            else:
                chat = ChatRequest(
                    messages=messages,
                    task=request.task,
                    options={"num_predict": request.output_tokens},
                    client=client,
                    stream=self._streamed,  # by default the bench's callers are programs that use the whole answer
                )
                async for delta in self._router.chat(chat):
                    if first_token_s is None and (delta.content or delta.thinking):
                        first_token_s = time.perf_counter() - started
                    reply.append(delta.content)
                    final = delta.final or final
        except Exception:  # noqa: BLE001 - the router's record says what went wrong
            pass
        total_s = time.perf_counter() - started
        record = self._records.pop(client, None)
        text = "".join(reply)
        intact = None
        if self._expected is not None and request.task is not Task.EMBEDDING and record is not None and record.endpoint:
            intact = text == self._expected(record.endpoint, [message["content"] for message in messages], request.output_tokens)
        served = self._served(record, first_token_s, total_s, text, intact)
        if final is None:
            return served
        return replace(served, prompt_tokens=final.prompt_tokens, cached_prompt_tokens=final.cached_prompt_tokens)

    @staticmethod
    def _served(record: RequestRecord | None, first_token_s: float | None, total_s: float, reply: str, intact: bool | None) -> Served:
        if record is None:
            return Served(Fate.LOST, error="the router emitted no record")
        fallbacks = len(record.decision.fallbacks)
        prediction = record.decision.prediction
        calibration = None
        if prediction is not None:
            calibration = Calibration(prediction.ttft_s, prediction.completion_s, record.actual_ttft_s, record.actual_completion_s)
        if record.outcome is Outcome.OK:
            return Served(
                Fate.OK, record.endpoint, first_token_s, total_s, fallbacks, reply=reply, answer_intact=intact, calibration=calibration
            )
        return Served(
            Fate.FAILED,
            record.endpoint,
            first_token_s,
            total_s,
            fallbacks,
            failed_after_first_token=record.error_kind is ErrorKind.FAILED_MID_STREAM or first_token_s is not None,
            error=f"{record.outcome.value}: {record.error_kind.value if record.error_kind else ''} {record.error or ''}".strip(),
            calibration=calibration,
        )

"""The OpenAI pass-through to Ollama hosts: `/v1` requests routed to an Ollama host are relayed to its
own `/v1` routes (the emulator's, as Ollama serves them), streamed and not, and get the bytes it
wrote (the model's name aside); still routed, recorded, failed over and cancelled like any request."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx

from tests.helpers import cancel_when_chosen, wait_until
from tests.serve.test_passthrough import CODER, FAST, ONE_HOST, TWO_HOSTS, Recorder, Stack, serving, settings_for, stack
from zeta_console.router.api import RequestRecord, RouterEvent
from zeta_console.settings import Timeouts
from zeta_console.sim import Fault, run_fleet

ASKED = "library/qwen2.5-coder:7b"  # the coder, pinned, by a name that differs from the host's
HELLO = [{"role": "user", "content": "write a python function"}]
CHAT = {"model": ASKED, "messages": HELLO, "max_tokens": 12}
EVENT = re.compile(rb"data: [^\n]*\n\n")
WHOLE_CHAT = re.compile(rb'\{"id":"chatcmpl-\d+","object":"chat\.completion",.*?"total_tokens":\d+\}\}')
ZERO_USAGE = b',"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}'


def renamed(data: bytes) -> bytes:
    return data.replace(f'"model":"{CODER}"'.encode(), f'"model":"{ASKED}"'.encode())


@asynccontextmanager
async def recorded(timeouts: Timeouts | None = None) -> AsyncIterator[tuple[Stack, Recorder, list[RequestRecord]]]:
    """One emulated host behind a recorder, serve in front of it, and the router's records."""
    async with (
        run_fleet(replace(ONE_HOST, time_scale=FAST)) as fleet,
        Recorder(int(fleet.host("local").url.rsplit(":", 1)[1])) as recorder,
    ):
        settings = settings_for(fleet, ONE_HOST, {"local": recorder.url})
        async with serving(fleet, replace(settings, timeouts=timeouts or settings.timeouts)) as served:
            records: list[RequestRecord] = []

            def keep(event: RouterEvent) -> None:
                if isinstance(event, RequestRecord):
                    records.append(event)

            unsubscribe = served.router.subscribe(keep)
            try:
                yield served, recorder, records
            finally:
                unsubscribe()


def _sent(recorder: Recorder) -> bytes:
    return b"".join(recorder.sent)


def _events(recorder: Recorder) -> list[bytes]:
    return [event for written in recorder.written for event in EVENT.findall(bytes(written))]


async def test_a_whole_chat_is_ollamas_v1_object_renamed_with_no_ttft_recorded() -> None:
    body = {"model": ASKED, "messages": HELLO, "max_completion_tokens": 7}
    async with recorded() as (served, recorder, records), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        reply = await http.post("/v1/chat/completions", json=body)
        await wait_until(lambda: bool(records), message="the request's record")
        written = WHOLE_CHAT.findall(b"".join(recorder.written))
        sent = _sent(recorder)
        coder = next(point for point in served.router.snapshot().endpoints if point.id == "coder@local")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.headers["x-zeta-endpoint"] == "coder@local" and reply.headers["x-zeta-model"] == CODER
    assert len(written) == 1 and reply.content == renamed(written[0])  # Ollama's own object: fp_ollama, its id, its usage
    assert reply.json()["model"] == ASKED and reply.json()["system_fingerprint"] == "fp_ollama"
    assert b"POST /v1/chat/completions " in sent and b"/api/chat" not in sent
    assert b'"max_tokens":7' in sent and b"max_completion_tokens" not in sent  # the only limit Ollama's /v1 reads
    record = records[-1]
    assert record.outcome.value == "ok" and record.ttft_s is None and record.output_tokens == 7
    assert record.prompt_tokens == reply.json()["usage"]["prompt_tokens"] and record.total_s > 0
    assert coder.successes == 1 and coder.ttft_ewma_s is None  # no first-token sample it does not have


async def test_a_stream_is_ollamas_v1_events_renamed_without_the_usage_it_did_not_ask_for() -> None:
    stream = {**CHAT, "stream": True}
    async with recorded() as (served, recorder, records), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        plain = await http.post("/v1/chat/completions", json=stream)
        upstream_plain = _events(recorder)
        with_usage = await http.post("/v1/chat/completions", json={**stream, "stream_options": {"include_usage": True}})
        upstream_usage = _events(recorder)[len(upstream_plain) :]
        sent = _sent(recorder)
    assert plain.headers["content-type"].startswith("text/event-stream") and plain.headers["x-zeta-endpoint"] == "coder@local"
    usage = [event for event in upstream_plain if b'"usage":{' in event]
    assert len(usage) == 1  # asked upstream although the client did not ...
    assert plain.content == renamed(b"".join(event for event in upstream_plain if event not in usage))  # ... and cut out
    assert with_usage.content == renamed(b"".join(upstream_usage)) and with_usage.content.endswith(b"data: [DONE]\n\n")
    assert sent.count(b'"stream_options":{"include_usage":true}') == 2 and b"/api/chat" not in sent
    assert all(record.ttft_s is not None and record.output_tokens == 12 for record in records)


async def test_a_completion_stream_drops_the_zeroed_usages_ollama_writes_when_asked_for_usage() -> None:
    body = {"model": ASKED, "prompt": "def add(a, b):", "max_tokens": 5, "stream": True}
    async with recorded() as (served, recorder, _), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        plain = await http.post("/v1/completions", json=body)
        upstream = _events(recorder)
        whole = await http.post("/v1/completions", json={**body, "stream": False})
        whole_written = b"".join(recorder.written)
    assert sum(ZERO_USAGE in event for event in upstream) == len(upstream) - 2  # every chunk but the totals and [DONE]
    totals = [event for event in upstream if b'"choices":[]' in event]
    expected = b"".join(event.replace(ZERO_USAGE, b"") for event in upstream if event not in totals)
    assert plain.content == renamed(expected) and b'"usage"' not in plain.content
    assert whole.json()["object"] == "text_completion" and whole.json()["model"] == ASKED
    assert renamed(whole_written).endswith(whole.content)


async def test_an_embedding_is_ollamas_v1_reply_renamed() -> None:
    async with recorded() as (served, recorder, _), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        reply = await http.post("/v1/embeddings", json={"model": "qwen3-embedding:4b", "input": ["a cat", "a dog"]})
        written = bytes(recorder.written[-1])
        sent = _sent(recorder)
    assert reply.status_code == 200 and reply.headers["x-zeta-endpoint"] == "embedder@local"
    assert written.endswith(reply.content) and len(reply.json()["data"]) == 2
    assert b"POST /v1/embeddings " in sent and b"/api/embed" not in sent


async def test_a_whole_answer_waits_past_the_first_token_allowance() -> None:
    """No first token comes before a whole answer: only the total deadline bounds it."""
    timeouts = Timeouts(first_token_s=0.05, first_token_per_1k_prompt_tokens_s=0.0)
    async with recorded(timeouts=timeouts) as (served, _, records), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        served.fleet.host("local").set_fault(CODER, Fault(slow_factor=FAST * 0.2))  # ~0.2 s per token: well past 0.05 s
        reply = await http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 3})
    assert reply.status_code == 200, reply.text
    assert records[-1].total_s > timeouts.first_token_s and records[-1].ttft_s is None


async def test_a_whole_answer_fails_over_before_any_byte() -> None:
    async with stack(TWO_HOSTS, policy="static") as served, httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        a, b = served.fleet.host("a"), served.fleet.host("b")
        a.set_fault(CODER, Fault(error_rate=1.0))
        b.set_fault(CODER, Fault(stall_s=10_000))
        served.router.controls.drain("coder@a")
        busy = asyncio.ensure_future(http.post("/v1/chat/completions", json=CHAT))  # b has work outstanding: a becomes the choice
        await wait_until(lambda: _in_flight(served, "coder@b") == 1, message="the stalled request to reach b")
        b.clear_faults()
        served.router.controls.undrain("coder@a")
        cancel_when_chosen(served.router, "coder@a", busy)  # b's one slot frees for the failover
        reply = await http.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200 and (reply.headers["x-zeta-endpoint"], reply.headers["x-zeta-fallbacks"]) == ("coder@b", "coder@a")
    assert reply.json()["system_fingerprint"] == "fp_ollama" and reply.json()["model"] == ASKED
    assert "model runner" not in reply.text  # nothing of a's error


def _in_flight(served: Stack, endpoint: str) -> int:
    return next(point.in_flight for point in served.router.snapshot().endpoints if point.id == endpoint)


async def test_a_client_leaving_a_whole_answer_frees_the_slot() -> None:
    async with recorded() as (served, _, records), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        host = served.fleet.host("local")
        host.set_fault(CODER, Fault(slow_factor=50))
        pending = asyncio.ensure_future(http.post("/v1/chat/completions", json={**CHAT, "max_tokens": 400}))
        await wait_until(lambda: host.state()["models"][CODER]["busy_slots"] == 1, message="the request to reach the emulator")
        pending.cancel()
        await wait_until(lambda: host.state()["models"][CODER]["busy_slots"] == 0, message="the emulator's slot to be freed")
        await wait_until(lambda: bool(records), message="the request's record")
    assert records[-1].outcome.value == "cancelled"


async def test_a_client_leaving_a_stream_frees_the_slot() -> None:
    async with recorded() as (served, _, _), httpx.AsyncClient(base_url=served.endpoint.url, timeout=30) as http:
        host = served.fleet.host("local")
        host.set_fault(CODER, Fault(slow_factor=50))
        async with http.stream("POST", "/v1/chat/completions", json={**CHAT, "max_tokens": 400, "stream": True}) as response:
            parts = response.aiter_raw()  # keep it referenced: a collected iterator closes the response
            first = await anext(parts)
            assert json.loads(first.split(b"\n\n")[0].removeprefix(b"data: "))["model"] == ASKED
            assert host.state()["models"][CODER]["busy_slots"] == 1
        await wait_until(lambda: host.state()["models"][CODER]["busy_slots"] == 0, message="the emulator's slot to be freed")

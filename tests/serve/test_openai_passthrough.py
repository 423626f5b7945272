"""The OpenAI pass-through: `/v1` requests routed to a real llama.cpp server (`api: openai`) get the
bytes llama.cpp wrote (the model's name aside), and are still routed, failed over and cancelled."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import httpx
import pytest

from tests.backends.scripted_openai import Events, Reply, ScriptedServer, Status
from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers, slot_busy, slot_idle
from tests.serve.test_passthrough import Recorder
from zeta_console.realfleet.llama_server import LlamaServer
from zeta_console.router.api import RequestRecord
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.settings import HostConfig, ModelConfig, PolicyName, Settings, Task, Telemetry

ASKED = "zeta:auto"
KEY_ENV, KEY = "ZETA_TEST_LLAMA_KEY", "sk-test-relay"
EVENT = re.compile(rb"data: [^\n]*\n\n")
# Greedy, so that llama.cpp's first token is a word and its stream starts with a role-only chunk: a sampled
# first token may be part of an emoji, which the relay gives the role it lacks (the test after the next).
CHAT = {"model": ASKED, "messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 8, "stream": True, "temperature": 0}


@dataclass(frozen=True)
class Stack:
    url: str
    router: ZetaDynamicRouter
    recorders: dict[str, Recorder]  # host name -> what its server wrote


def fleet_settings(urls: dict[str, str], embed_url: str | None = None) -> Settings:
    hosts = tuple(HostConfig(name, url, api="openai", api_key_env=KEY_ENV) for name, url in urls.items())
    models = [ModelConfig("coder", "coder", tuple(urls), frozenset({"completion"}), slots=2)]  # the failover test's servers have 2
    if embed_url is not None:
        hosts += (HostConfig("embed", embed_url, api="openai", api_key_env=KEY_ENV),)
        models.append(ModelConfig("embedder", "embedder", ("embed",), frozenset({"embedding"})))
    routes = {Task.SIMPLE: ("coder",), Task.CODE: ("coder",), Task.COMPLEX_REASONING: ("coder",), Task.EMBEDDING: ("embedder",)}
    return replace(Settings(), hosts=hosts, models=tuple(models), routes=routes, policy=PolicyName("static"), source="<llama.cpp>")


@asynccontextmanager
async def relayed(servers: dict[str, LlamaServer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setenv(KEY_ENV, KEY)
    recorders = {name: Recorder(int(server.url.rsplit(":", 1)[1])) for name, server in servers.items()}
    for recorder in recorders.values():
        await recorder.__aenter__()
    try:
        urls = {name: recorder.url for name, recorder in recorders.items() if name != "embed"}
        settings = fleet_settings(urls, recorders["embed"].url if "embed" in recorders else None)
        async with ZetaDynamicRouter(settings, health_poll_s=3600) as router:
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
            try:
                yield Stack(endpoint.url, router, recorders)
            finally:
                await endpoint.stop()
    finally:
        for recorder in recorders.values():
            await recorder.__aexit__()


def renamed(data: bytes) -> bytes:
    return data.replace(b'"model":"coder"', f'"model":"{ASKED}"'.encode())


async def _streamed(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> tuple[httpx.Headers, bytes]:
    async with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200, await response.aread()
        return response.headers, b"".join([part async for part in response.aiter_raw()])


async def test_a_stream_is_llama_cpps_bytes_renamed_without_the_usage_chunk_it_did_not_ask_for(
    llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with relayed({"llama": llama_servers.shared("coder")}, monkeypatch) as stack, httpx.AsyncClient(
        base_url=stack.url, timeout=120
    ) as http:
        headers, chat = await _streamed(http, "/v1/chat/completions", CHAT)
        _, with_usage = await _streamed(http, "/v1/chat/completions", {**CHAT, "stream_options": {"include_usage": True}})
        _, completion = await _streamed(http, "/v1/completions", {"model": ASKED, "prompt": "Once", "max_tokens": 6, "stream": True})
        recorder = stack.recorders["llama"]
        written = [EVENT.findall(bytes(connection)) for connection in recorder.written]
        sent = b"".join(recorder.sent)
    events = [event for connection in written for event in connection]
    usage = [event for event in events if b'"usage":{' in event]
    assert headers["x-zeta-endpoint"] == "coder@llama" and len(usage) == 3  # asked for upstream every time
    upstream_chat, upstream_usage, upstream_completion = _by_request(events)
    assert b'"delta":{"role":"assistant"' in upstream_chat[0]
    assert chat == renamed(b"".join(event for event in upstream_chat if event not in usage))
    assert with_usage == renamed(b"".join(upstream_usage)) and b'"usage":{' in with_usage
    assert completion == renamed(b"".join(event for event in upstream_completion if event not in usage))
    assert chat.endswith(b"data: [DONE]\n\n") and b'"model":"coder"' not in chat + with_usage + completion
    assert f"Authorization: Bearer {KEY}".lower().encode() in sent.lower()
    assert sent.count(b'"stream_options":{"include_usage":true}') == 3


async def test_a_chat_stream_starts_with_the_role_when_llama_cpp_wrote_none(
    llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp writes no role-only chunk when its first token is the first bytes of an emoji (greedy
    sampling makes that token certain): serve puts the role into the first delta, as OpenAI's streams have it."""
    emoji_first = {**CHAT, "messages": [{"role": "user", "content": "Write only the emoji 🌱"}], "temperature": 0}
    async with relayed({"llama": llama_servers.shared("coder")}, monkeypatch) as stack, httpx.AsyncClient(
        base_url=stack.url, timeout=120
    ) as http:
        _, chat = await _streamed(http, "/v1/chat/completions", emoji_first)
        written_events = [event for connection in stack.recorders["llama"].written for event in EVENT.findall(bytes(connection))]
    upstream = [event for event in _by_request(written_events)[0] if b'"usage":{' not in event]
    written, served = [json.loads(event[6:]) for event in upstream[:-1]], [json.loads(event[6:]) for event in EVENT.findall(chat)[:-1]]
    assert written[0]["choices"][0]["delta"] == {"content": "🌱"} and "role" not in str(written)  # llama.cpp's, roleless
    assert served[0]["choices"][0]["delta"] == {"role": "assistant", "content": "🌱"}
    assert chat.endswith(b"data: [DONE]\n\n") and EVENT.findall(chat)[1:] == [renamed(event) for event in upstream[1:]]


def _by_request(events: list[bytes]) -> list[list[bytes]]:
    """The events of each answer, in order: each ends with `[DONE]`."""
    answers: list[list[bytes]] = [[]]
    for event in events:
        answers[-1].append(event)
        if event == b"data: [DONE]\n\n":
            answers.append([])
    return answers[:-1]


async def test_the_ttft_of_a_relayed_stream_is_llama_cpps_first_token_not_its_role_chunk(
    llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp writes its role-only chunk with the first token, after the prompt is evaluated: the
    TTFT the router records is at least llama.cpp's own prompt time."""
    records: list[RequestRecord] = []
    prompt = f"{uuid.uuid4()} " + "word " * 120  # not in llama.cpp's prompt cache: ~180 tokens to evaluate
    body = {**CHAT, "messages": [{"role": "user", "content": prompt}], "max_tokens": 2, "stream_options": {"include_usage": True}}
    async with relayed({"llama": llama_servers.shared("coder")}, monkeypatch) as stack, httpx.AsyncClient(
        base_url=stack.url, timeout=120
    ) as http:
        unsubscribe = stack.router.subscribe(lambda event: records.append(event) if isinstance(event, RequestRecord) else None)
        _, chat = await _streamed(http, "/v1/chat/completions", body)
        await wait_until(lambda: bool(records), message="the request's record")
        unsubscribe()
    chunks = [json.loads(event[len(b"data: ") :]) for event in EVENT.findall(chat) if event != b"data: [DONE]\n\n"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}  # llama.cpp's role-only first chunk
    timings = next(chunk["timings"] for chunk in chunks if "timings" in chunk)
    assert timings["prompt_n"] > 100
    (record,) = records
    assert record.ttft_s is not None and record.ttft_s >= timings["prompt_ms"] / 1000


async def test_the_ttft_of_an_unstreamed_answer_is_its_time_less_llama_cpps_decode_time(
    llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer relayed whole has no first token to time: the router takes its time less the decode time
    llama.cpp reports, which covers llama.cpp's prompt time and leaves its decoding out."""
    records: list[RequestRecord] = []
    prompt = f"{uuid.uuid4()} " + "word " * 120  # not in llama.cpp's prompt cache: ~180 tokens to evaluate
    body = {**CHAT, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8, "stream": False}
    async with relayed({"llama": llama_servers.shared("coder")}, monkeypatch) as stack, httpx.AsyncClient(
        base_url=stack.url, timeout=120
    ) as http:
        unsubscribe = stack.router.subscribe(lambda event: records.append(event) if isinstance(event, RequestRecord) else None)
        reply = await http.post("/v1/chat/completions", json=body)
        await wait_until(lambda: bool(records), message="the request's record")
        unsubscribe()
    assert reply.status_code == 200, reply.text
    timings = reply.json()["timings"]
    assert timings["prompt_n"] > 100 and timings["predicted_ms"] > 0
    (record,) = records
    assert record.ttft_s is not None
    assert timings["prompt_ms"] / 1000 <= record.ttft_s <= record.total_s - timings["predicted_ms"] / 1000


async def test_an_embedding_is_llama_cpps_reply_renamed(llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch) -> None:
    servers = {"llama": llama_servers.shared("coder"), "embed": llama_servers.shared("embedder", embedding=True)}
    async with relayed(servers, monkeypatch) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        reply = await http.post("/v1/embeddings", json={"model": "zeta:embed", "input": ["a cat", "a dog"]})
        written = bytes(stack.recorders["embed"].written[-1])
    body = written.split(b"\r\n\r\n", 1)[1]
    assert reply.status_code == 200 and reply.headers["x-zeta-endpoint"] == "embedder@embed"
    assert reply.content == body.replace(b'"model":"embedder"', b'"model":"zeta:embed"')
    assert len(reply.json()["data"]) == 2


async def test_a_client_that_disconnects_frees_the_llama_cpp_slot(llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch) -> None:
    # The router closes the upstream connection before it lets go of the slot, so llama.cpp may free its
    # slot first: the end of the request is its record, not the slot's freeing (nor the time that took).
    server = llama_servers.own("coder")
    ended = asyncio.Event()
    async with relayed({"llama": server}, monkeypatch) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        stack.router.subscribe(lambda event: ended.set() if isinstance(event, RequestRecord) else None)
        long = {**CHAT, "max_tokens": 400, "ignore_eos": True}
        async with http.stream("POST", "/v1/chat/completions", json=long) as response:
            async for _ in response.aiter_raw():
                assert await slot_busy(server.url)
                break
        await asyncio.wait_for(ended.wait(), timeout=20)
        assert _in_flight(stack.router) == 0
        await wait_until(lambda: slot_idle(server.url), timeout=20, message="llama.cpp to free the slot")


def _in_flight(router: ZetaDynamicRouter) -> int:
    return sum(endpoint.in_flight for endpoint in router.snapshot().endpoints)


async def test_a_dead_server_fails_over_before_the_first_byte(llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch) -> None:
    servers = {"one": llama_servers.own("coder", parallel=2), "two": llama_servers.own("coder", parallel=2)}
    long = {**CHAT, "max_tokens": 400, "ignore_eos": True}
    async with (
        relayed(servers, monkeypatch) as stack,
        httpx.AsyncClient(base_url=stack.url, timeout=120) as http,
        http.stream("POST", "/v1/chat/completions", json=long) as busy,
    ):
        busy_at = busy.headers["x-zeta-endpoint"].split("@")[1]  # outstanding work there: the other becomes the choice
        idle = next(name for name in servers if name != busy_at)
        servers[idle].kill()
        headers, chat = await _streamed(http, "/v1/chat/completions", CHAT)
    assert (headers["x-zeta-endpoint"], headers["x-zeta-fallbacks"]) == (f"coder@{busy_at}", f"coder@{idle}")
    assert chat.endswith(b"data: [DONE]\n\n") and json.loads(chat.split(b"\n\n")[0][len(b"data: ") :])["model"] == ASKED


async def test_an_upstream_refusal_is_an_openai_error_with_llama_cpps_message(
    llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_long = {**CHAT, "messages": [{"role": "user", "content": "word " * 6000}]}  # beyond the server's context
    async with relayed({"llama": llama_servers.shared("coder")}, monkeypatch) as stack, httpx.AsyncClient(
        base_url=stack.url, timeout=120
    ) as http:
        reply = await http.post("/v1/chat/completions", json=too_long)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert "context" in error["message"] and error["type"] == "invalid_request_error"


SEED = 2  # the router's tie-break between the two equal replicas tries the failing host first


class _AnyGetListsCoder(dict[str, Reply | list[Reply]]):
    """The scripted server's replies: its scripted `coder` stream, no llama.cpp `/props`, and for any
    other GET (health, model list) a model list naming `coder`, so the router counts the host as up and serving it."""

    def __missing__(self, key: str) -> Reply:
        if key == "/props":
            return Status(404, {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}})
        return Status(200, {"object": "list", "data": [{"id": "coder", "object": "model", "owned_by": "llamacpp"}]})


async def test_an_error_event_before_any_byte_fails_over(llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    failing = ScriptedServer(_AnyGetListsCoder(coder=Events([{"error": {"message": "slot crashed", "type": "server_error"}}])))
    real = llama_servers.shared("coder")
    async with failing:
        settings = fleet_settings({"failing": failing.url, "real": real.url})  # static: the first host is preferred
        settings = replace(settings, hosts=tuple(replace(host, telemetry=Telemetry.NONE) for host in settings.hosts))  # equal loads
        async with ZetaDynamicRouter(settings, health_poll_s=3600, seed=SEED) as router, httpx.AsyncClient(timeout=60) as http:
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
            try:
                headers, chat = await _streamed(http, f"{endpoint.url}/v1/chat/completions", CHAT)
            finally:
                await endpoint.stop()
    assert [request.get("model") for request in failing.requests if request] == ["coder"]  # tried first
    assert (headers["x-zeta-endpoint"], headers["x-zeta-fallbacks"]) == ("coder@real", "coder@failing")
    assert b"slot crashed" not in chat and chat.endswith(b"data: [DONE]\n\n")

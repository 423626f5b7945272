"""A fleet of both dialects (an Ollama emulator host and a real llama.cpp `api: openai` host): each
Ollama-dialect request is relayed as bytes when routed to the Ollama host and translated when routed
to the llama.cpp host, and each OpenAI-dialect request is relayed as bytes from either (Ollama serves
`/v1` too), the choice made per endpoint, failover included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import httpx

from tests.helpers import cancel_when_chosen, wait_until
from tests.llama_fleet import LlamaServers
from tests.serve.test_passthrough import ASK, ASKED, CODER, CODER_PROFILE, FAST, Recorder, renamed
from zeta_console.backends.registry import BACKENDS
from zeta_console.realfleet.llama_server import LlamaServer
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.serve.openai_passthrough import APIS, OpenAIRelay
from zeta_console.settings import HostConfig, ModelConfig, PolicyName, Settings, Task
from zeta_console.sim import Fault, FleetSpec, HostSpec, SimFleet, run_fleet

EMULATED = FleetSpec(hosts=(HostSpec(name="a", models=(CODER_PROFILE,)),), time_scale=FAST)
SHORT = {**ASK, "options": {"num_predict": 8}}


@dataclass(frozen=True)
class Mixed:
    url: str
    router: ZetaDynamicRouter
    fleet: SimFleet
    emulator: Recorder  # what the Ollama host wrote
    llama: Recorder  # what the llama.cpp host wrote


def mixed_settings(emulator_url: str, llama_url: str) -> Settings:
    """The coder on both hosts, under the same model name."""
    hosts = (HostConfig("a", emulator_url), HostConfig("llama", llama_url, api="openai"))
    models = (ModelConfig("coder", CODER, ("a", "llama"), frozenset({"completion"})),)
    routes = {Task.SIMPLE: ("coder",), Task.CODE: ("coder",), Task.COMPLEX_REASONING: ("coder",), Task.EMBEDDING: ("coder",)}
    return replace(Settings(), hosts=hosts, models=models, routes=routes, policy=PolicyName("static"), source="<mixed fleet>")


@asynccontextmanager
async def mixed(server: LlamaServer) -> AsyncIterator[Mixed]:
    async with (
        run_fleet(EMULATED) as fleet,
        Recorder(int(fleet.host("a").url.rsplit(":", 1)[1])) as emulator,
        Recorder(int(server.url.rsplit(":", 1)[1])) as llama,
    ):
        settings = mixed_settings(emulator.url, llama.url)
        async with ZetaDynamicRouter(settings, health_poll_s=3600) as router:
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
            try:
                yield Mixed(endpoint.url, router, fleet, emulator, llama)
            finally:
                await endpoint.stop()


async def _streamed(http: httpx.AsyncClient, body: dict[str, object]) -> tuple[httpx.Headers, bytes]:
    async with http.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200
        return response.headers, b"".join([part async for part in response.aiter_raw()])


async def test_each_request_is_relayed_or_translated_by_the_endpoint_chosen(llama_servers: LlamaServers) -> None:
    async with mixed(llama_servers.shared(CODER)) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        stack.router.controls.drain("coder@llama")
        relayed_headers, relayed = await _streamed(http, SHORT)
        emulator_lines = stack.emulator.lines()
        stack.router.controls.undrain("coder@llama")
        stack.router.controls.drain("coder@a")
        translated_headers, translated = await _streamed(http, SHORT)
        whole = await http.post("/api/chat", json={**SHORT, "stream": False})
    assert relayed_headers["x-zeta-endpoint"] == "coder@a" and emulator_lines
    assert relayed == b"".join(renamed(line, CODER, ASKED) for line in emulator_lines)  # the emulator's bytes
    assert translated_headers["x-zeta-endpoint"] == "coder@llama"
    assert bytes(stack.llama.written[-1]).count(b"data: ") > 1  # llama.cpp spoke OpenAI's SSE ...
    lines = [json.loads(line) for line in translated.splitlines()]
    assert all(line["model"] == ASKED for line in lines) and lines[-1]["done"] is True  # ... the client got Ollama's NDJSON
    assert whole.status_code == 200 and whole.json()["model"] == ASKED and whole.json()["done"] is True
    assert whole.headers["x-zeta-endpoint"] == "coder@llama"


async def test_a_request_fails_over_before_the_first_byte_to_a_host_of_the_other_dialect(llama_servers: LlamaServers) -> None:
    server = llama_servers.own(CODER)
    async with mixed(server) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        emulated = stack.fleet.host("a")
        emulated.set_fault(CODER, Fault(stall_s=10_000))
        stack.router.controls.drain("coder@llama")
        busy = asyncio.ensure_future(http.post("/api/chat", json=SHORT))  # a has work outstanding: llama becomes the choice
        await wait_until(lambda: _in_flight(stack.router, "coder@a") == 1, message="the stalled request to reach a")
        emulated.clear_faults()
        stack.router.controls.undrain("coder@llama")
        server.kill()  # a crash: connection refused
        cancel_when_chosen(stack.router, "coder@llama", busy)  # a's one slot frees for the failover
        headers, relayed = await _streamed(http, SHORT)
        emulator_lines = stack.emulator.lines()  # the stalled request's too, on its own connection
    assert (headers["x-zeta-endpoint"], headers["x-zeta-fallbacks"]) == ("coder@a", "coder@llama")
    assert b'"done":true' in relayed.splitlines()[-1]
    assert relayed in b"".join(renamed(line, CODER, ASKED) for line in emulator_lines)  # relayed as bytes after the failover


def _in_flight(router: ZetaDynamicRouter, endpoint: str) -> int:
    return next(e.in_flight for e in router.snapshot().endpoints if e.id == endpoint)


async def test_an_openai_stream_is_relayed_from_llama_cpp_and_from_ollamas_own_v1(llama_servers: LlamaServers) -> None:
    # greedy: a sampled first token may be part of an emoji, whose chunk the relay gives the role llama.cpp left out
    body = {"model": ASKED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "stream": True, "temperature": 0}
    async with mixed(llama_servers.shared(CODER)) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        stack.router.controls.drain("coder@llama")
        from_ollama = await http.post("/v1/chat/completions", json=body)
        emulator_wrote = b"".join(stack.emulator.written)
        stack.router.controls.undrain("coder@llama")
        stack.router.controls.drain("coder@a")
        relayed = await http.post("/v1/chat/completions", json=body)
        llama_wrote = bytes(stack.llama.written[-1])
    assert from_ollama.headers["x-zeta-endpoint"] == "coder@a" and b"POST /v1/chat/completions " in b"".join(stack.emulator.sent)
    assert b'"done":true' not in emulator_wrote and b'"system_fingerprint":"fp_ollama"' in from_ollama.content  # Ollama's /v1 SSE
    first = from_ollama.content.split(b"\n\n", 1)[0] + b"\n\n"
    assert first.replace(f'"model":"{ASKED}"'.encode(), f'"model":"{CODER}"'.encode()) in emulator_wrote
    assert from_ollama.content.count(b"data: [DONE]\n\n") == 1 and from_ollama.content.endswith(b"data: [DONE]\n\n")
    assert relayed.headers["x-zeta-endpoint"] == "coder@llama"
    first = relayed.content.split(b"\n\n", 1)[0] + b"\n\n"
    assert first.replace(f'"model":"{ASKED}"'.encode(), f'"model":"{CODER}"'.encode()) in llama_wrote  # llama.cpp's own event


async def test_a_whole_openai_answer_fails_over_from_ollama_to_llama_cpp_as_bytes(llama_servers: LlamaServers) -> None:
    body = {"model": ASKED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    async with mixed(llama_servers.shared(CODER)) as stack, httpx.AsyncClient(base_url=stack.url, timeout=120) as http:
        stack.fleet.host("a").set_fault(CODER, Fault(error_rate=1.0))
        for _ in range(20):  # the static policy breaks the tie between the replicas at random: until host a goes first
            reply = await http.post("/v1/chat/completions", json=body)
            llama_wrote = bytes(stack.llama.written[-1])
            if reply.headers.get("x-zeta-fallbacks"):
                break
    assert reply.status_code == 200, reply.text
    assert (reply.headers["x-zeta-endpoint"], reply.headers["x-zeta-fallbacks"]) == ("coder@llama", "coder@a")
    assert llama_wrote.endswith(reply.content.replace(f'"model":"{ASKED}"'.encode(), f'"model":"{CODER}"'.encode()))


def test_every_kind_of_host_speaks_openais_v1_so_the_openai_relay_needs_no_translator() -> None:
    """`OpenAIRelay` has no translator: a new kind of host that does not serve `/v1` would need one."""
    assert OpenAIRelay.translator is None and set(BACKENDS) <= APIS

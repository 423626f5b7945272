"""The router over real llama.cpp servers (`api: openai`): streaming, embeddings, cancellation,
servers killed before and after their first token, a fleet mixing them with an emulated Ollama
host, and the endpoint's non-streamed replies. Real HTTP on loopback, the official clients.

Servers are shared across the session where a test only reads them; a test that kills or fills
one starts its own. Answers are short (few tokens): the two cores are shared."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers, filled, slot_busy, slot_idle
from tests.router.routing import answer, ask
from zeta_console.backends.types import BackendError
from zeta_console.composition import build_router
from zeta_console.realfleet.llama_server import LlamaServer
from zeta_console.router.api import EndpointStatus, ErrorKind, Outcome
from zeta_console.router.requests import EmbedRequest, GenerateRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.settings import HostConfig, ModelConfig, PolicyName, Settings, Task, Telemetry
from zeta_console.sim import default_fleet_spec, run_fleet
from zeta_console.sim.profiles import EMBEDDER

SHORT = {"num_predict": 8, "temperature": 0}
STORY = "Tell me a story about a cat"  # an answer longer than SHORT allows: it ends by length
CHAT = frozenset({"completion"})
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8,"  # a raw continuation SmolLM2 keeps counting: a long generation on demand


def llama_settings(hosts: Mapping[str, str], models: tuple[ModelConfig, ...], **changes: object) -> Settings:
    """Settings over `hosts` (name -> URL, all `api: openai`), every chat task routed to the tiers in order."""
    chat_route = tuple(model.tier for model in models if "completion" in model.capabilities)
    embed_route = tuple(model.tier for model in models if "embedding" in model.capabilities)
    routes = {Task.SIMPLE: chat_route, Task.CODE: chat_route, Task.COMPLEX_REASONING: chat_route, Task.EMBEDDING: embed_route}
    return replace(
        Settings(),
        hosts=tuple(HostConfig(name, url, api="openai") for name, url in hosts.items()),
        models=models,
        routes=routes,
        source="<real fleet>",
        **changes,
    )


@asynccontextmanager
async def router_over(settings: Settings) -> AsyncIterator[ZetaDynamicRouter]:
    async with build_router(settings, health_poll_s=0.2, seed=1) as router:
        await wait_until(lambda: all(host.reachable for host in router.health.hosts.values()), timeout=10, message="hosts probed")
        yield router


async def gauge(server: LlamaServer, name: str) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{server.url}/metrics")).text
    return next(s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name)


async def test_a_chat_streams_from_a_real_server_with_its_timings(llama_servers: LlamaServers) -> None:
    coder = llama_servers.shared("coder")
    settings = llama_settings({"llama": coder.url}, (ModelConfig("coder", "coder", ("llama",), CHAT),))
    async with router_over(settings) as router:
        text, record = await answer(router, ask(STORY, Task.SIMPLE, options=SHORT))
        assert text.strip() and record.outcome is Outcome.OK and record.endpoint == "coder@llama"
        assert record.output_tokens == 8 and record.ttft_s is not None
        endpoint = next(endpoint for endpoint in router.snapshot().endpoints if endpoint.id == "coder@llama")
        assert endpoint.status is EndpointStatus.UP and endpoint.decode_tps  # from llama.cpp's own timings
        assert router.health.hosts["llama"].version == "llama.cpp"


async def test_embeddings_come_from_a_real_embedding_server(llama_servers: LlamaServers) -> None:
    embedder = llama_servers.shared("embedder", embedding=True)
    settings = llama_settings({"embed": embedder.url}, (ModelConfig("embedder", "embedder", ("embed",), frozenset({"embedding"})),))
    async with router_over(settings) as router:
        result = await router.embed(EmbedRequest(input=["one apple", "two pears"]))
        assert result.decision.chosen == "embedder@embed"
        assert [len(vector) for vector in result.response.embeddings] == [576, 576]
        assert result.response.embeddings[0] != result.response.embeddings[1]


async def test_a_model_the_server_does_not_serve_is_missing(llama_servers: LlamaServers) -> None:
    coder = llama_servers.shared("coder")
    models = (ModelConfig("coder", "coder", ("llama",), CHAT), ModelConfig("big", "qwen3:32b", ("llama",), CHAT))
    async with router_over(llama_settings({"llama": coder.url}, models)) as router:
        await wait_until(lambda: router.health.hosts["llama"].installed is not None, message="/v1/models read")
        status = {endpoint.id: endpoint for endpoint in router.snapshot().endpoints}
        assert status["coder@llama"].status is EndpointStatus.UP
        assert status["big@llama"].status is EndpointStatus.MISSING
        assert status["big@llama"].status_reason == (
            "not installed on llama (it has coder): set the tier's model to an id the server lists, or serve qwen3:32b there"
        )


async def test_cancelling_a_stream_frees_the_servers_slot(llama_servers: LlamaServers) -> None:
    server = llama_servers.own("counter")
    settings = llama_settings({"llama": server.url}, (ModelConfig("coder", "counter", ("llama",), CHAT),))
    async with router_over(settings) as router:
        request = GenerateRequest(prompt=COUNTING, raw=True, task=Task.SIMPLE, options={"num_predict": 1500, "temperature": 0})
        async with router.generate(request) as stream:
            received = [await anext(stream) for _ in range(3)]
            assert await slot_busy(server.url)  # ~1500 tokens at ~50/s: it would run for half a minute
        assert "".join(delta.content for delta in received).strip()
        # /slots is the only signal the server gives: poll it, bounded well below the generation's length.
        await wait_until(lambda: slot_idle(server.url), timeout=5, interval=0.05, message="the slot freed")
        assert stream.record is not None and stream.record.outcome is Outcome.CANCELLED


async def _hold_the_slot(server: LlamaServer) -> None:
    """A direct request that keeps the server's one slot busy until the server dies."""
    body = {"model": "x", "prompt": COUNTING, "max_tokens": 1500, "temperature": 0, "stream": True}
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=60) as client, client.stream("POST", f"{server.url}/v1/completions", json=body) as reply:
            async for _ in reply.aiter_bytes():
                pass


async def _deferred(server: LlamaServer) -> bool:
    return await gauge(server, "llamacpp:requests_deferred") >= 1


async def test_a_server_killed_before_its_first_token_fails_over_within_the_tier(llama_servers: LlamaServers) -> None:
    victim, steady = llama_servers.own("coder"), llama_servers.shared("coder")
    models = (ModelConfig("coder", "coder", ("victim", "steady"), CHAT),)
    settings = llama_settings({"victim": victim.url, "steady": steady.url}, models, policy=PolicyName("static"))
    async with router_over(settings) as router:
        holder = asyncio.create_task(_hold_the_slot(victim))
        await wait_until(lambda: slot_busy(victim.url), timeout=10, interval=0.05, message="the victim's slot taken")
        router.controls.drain("coder@steady")  # so the request goes to the victim and waits there for its slot
        routed = asyncio.create_task(answer(router, ask(STORY, Task.SIMPLE, options=SHORT)))
        await wait_until(lambda: _deferred(victim), timeout=10, interval=0.05, message="deferred")
        router.controls.undrain("coder@steady")
        victim.kill()  # SIGKILL: a crash, with our request queued and no token sent
        text, record = await routed
        await holder
    assert record.outcome is Outcome.OK and text.strip()
    assert record.endpoint == "coder@steady" and record.decision.fallbacks == ("coder@victim",)


async def test_a_server_killed_after_its_first_token_gives_a_clear_error_and_no_spliced_text(llama_servers: LlamaServers) -> None:
    victim, steady = llama_servers.own("coder"), llama_servers.shared("coder")
    models = (ModelConfig("coder", "coder", ("victim", "steady"), CHAT),)
    settings = llama_settings({"victim": victim.url, "steady": steady.url}, models, policy=PolicyName("static"))
    async with router_over(settings) as router:
        router.controls.drain("coder@steady")
        request = GenerateRequest(prompt=COUNTING, raw=True, task=Task.SIMPLE, options={"num_predict": 1500, "temperature": 0})
        parts: list[str] = []
        async with router.generate(request) as stream:
            parts.append((await anext(stream)).content)
            router.controls.undrain("coder@steady")  # a failover target exists: it must still not be used
            victim.kill()
            with pytest.raises(BackendError) as raised:
                async for delta in stream:
                    parts.append(delta.content)
        assert raised.value.kind is ErrorKind.FAILED_MID_STREAM
        assert raised.value.message.startswith("peer closed connection without sending complete message body")
        assert stream.record is not None and stream.record.outcome is Outcome.ERROR
        assert stream.record.endpoint == "coder@victim" and stream.record.decision.fallbacks == ()
        # Only the victim's own counting, never another server's answer appended to it.
        assert "".join(f" {n}," for n in range(9, 2000)).startswith("".join(parts))
        steady_endpoint = next(endpoint for endpoint in router.snapshot().endpoints if endpoint.id == "coder@steady")
        assert steady_endpoint.successes == 0 and steady_endpoint.in_flight == 0


async def test_one_fleet_mixes_an_emulated_ollama_host_and_real_llama_servers(llama_servers: LlamaServers) -> None:
    coder = llama_servers.shared("coder")
    async with run_fleet(default_fleet_spec(time_scale=50.0)) as fleet:
        embedder = ModelConfig("embedder", EMBEDDER.name, ("local",), frozenset({"embedding"}))
        models = (ModelConfig("coder", "coder", ("llama",), CHAT), embedder)
        settings = llama_settings({"llama": coder.url}, models)
        settings = replace(settings, hosts=(*settings.hosts, HostConfig("local", fleet.host("local").url)))
        async with router_over(settings) as router:
            text, record = await answer(router, ask(STORY, Task.SIMPLE, options=SHORT))
            embedded = await router.embed(EmbedRequest(input="one apple"))
            assert record.endpoint == "coder@llama" and text.strip() and not text.startswith("[simulated")
            assert embedded.decision.chosen == "embedder@local" and len(embedded.response.embeddings) == 1
            assert router.health.hosts["local"].version.startswith("ollama ")  # type: ignore[union-attr]  # probed above
            assert router.health.hosts["llama"].version == "llama.cpp"
            # The Ollama-compatible endpoint over the mixed fleet: a non-streamed chat, answered by llama.cpp.
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0", None, None)
            try:
                async with httpx.AsyncClient(timeout=30) as client:
                    reply = (await client.post(f"{endpoint.url}/api/chat", json={
                        "model": "coder", "stream": False, "options": SHORT, "messages": [{"role": "user", "content": STORY}],
                    })).json()
            finally:
                await endpoint.stop()
            assert reply["done"] is True and reply["message"]["content"].strip() and reply["eval_count"] == 8


async def test_a_card_names_what_the_host_is_even_with_telemetry_none(llama_servers: LlamaServers) -> None:
    """`telemetry: none` reads no gauges, but the host still says what it is: the real llama.cpp server
    is "llama.cpp" (its /v1/models), a configured kind names itself before any probe, and a server
    that says nothing is "OpenAI-compatible"."""
    coder = llama_servers.shared("coder")
    models = (ModelConfig("coder", "coder", ("llama", "quiet", "unreachable"), CHAT),)
    settings = llama_settings({"llama": coder.url, "quiet": coder.url, "unreachable": "http://127.0.0.1:9"}, models)
    hosts = (
        replace(settings.hosts[0], telemetry=Telemetry.NONE),
        replace(settings.hosts[1], telemetry=Telemetry.VLLM),  # mislabelled on purpose: the configured kind is what it shows
        replace(settings.hosts[2], telemetry=Telemetry.NONE),
    )
    async with build_router(replace(settings, hosts=hosts), health_poll_s=0.2, seed=1) as router:
        await wait_until(lambda: router.health.hosts["llama"].reachable is True, timeout=10, message="llama probed")
        servers = {endpoint.host: endpoint.server for endpoint in router.snapshot().endpoints}
        assert servers == {"llama": "llama.cpp", "quiet": "vLLM", "unreachable": "OpenAI-compatible"}


def server_samples(text: str) -> dict[str, dict[str, float]]:
    """serve's /metrics: the zeta_endpoint_server_* samples, by name, then by endpoint."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("zeta_endpoint_server_"):
                assert sample.labels["server"] in ("llama.cpp",), sample
                found.setdefault(sample.name, {})[sample.labels["endpoint"]] = sample.value
    return found


async def test_serve_exports_the_servers_own_gauges_and_leaves_unknown_ones_absent(llama_servers: LlamaServers) -> None:
    """A real llama.cpp server with one slot and three requests of other clients: serve's /metrics
    says 1 running, 2 waiting, 1 slot for its endpoint (the router reads them from the server), no KV
    use (llama.cpp has no such gauge), and nothing at all for the emulated Ollama host (no gauges)."""
    busy = llama_servers.own("busy", parallel=1)
    async with run_fleet(default_fleet_spec(time_scale=50.0)) as fleet:
        embedder = ModelConfig("embedder", EMBEDDER.name, ("local",), frozenset({"embedding"}))
        settings = llama_settings({"llama": busy.url}, (ModelConfig("coder", "busy", ("llama",), CHAT), embedder))
        settings = replace(settings, hosts=(*settings.hosts, HostConfig("local", fleet.host("local").url)))
        async with router_over(settings) as router:
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0", None, None)
            try:
                async with httpx.AsyncClient(timeout=10) as client, filled(busy.url, 3):
                    seen: list[dict[str, dict[str, float]]] = []

                    async def one_running_two_waiting() -> bool:
                        seen.append(server_samples((await client.get(f"{endpoint.url}/metrics")).text))
                        return seen[-1].get("zeta_endpoint_server_waiting") == {"coder@llama": 2}

                    await wait_until(one_running_two_waiting, timeout=30, interval=0.1, message=f"2 waiting (scraped {seen[-2:]})")
            finally:
                await endpoint.stop()
    assert seen[-1] == {
        "zeta_endpoint_server_running": {"coder@llama": 1},
        "zeta_endpoint_server_waiting": {"coder@llama": 2},
        "zeta_endpoint_server_slots": {"coder@llama": 1},
    }

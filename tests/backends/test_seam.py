"""The backend seam: a backend speaks neutral types, and hosts get the backend their `api` names.

Against the emulator over real HTTP on loopback, through the official client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import ClassVar

import pytest
import pytest_asyncio

from zeta_console.backends import registry
from zeta_console.backends.ollama import OllamaBackend
from zeta_console.backends.registry import Backends
from zeta_console.backends.types import BackendError, Delta, Embeddings, ErrorKind
from zeta_console.demo import demo_settings
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import HostConfig, Timeouts
from zeta_console.sim import SimFleet, default_fleet_spec, run_fleet
from zeta_console.sim.profiles import CODER as CODER_PROFILE
from zeta_console.sim.profiles import EMBEDDER as EMBEDDER_PROFILE
from zeta_console.sim.profiles import REASONER as REASONER_PROFILE

CODER, EMBEDDER, REASONER = CODER_PROFILE.name, EMBEDDER_PROFILE.name, REASONER_PROFILE.name


@pytest_asyncio.fixture
async def fleet() -> AsyncIterator[SimFleet]:
    async with run_fleet(default_fleet_spec(time_scale=50.0)) as running:
        yield running


@pytest_asyncio.fixture
async def backend(fleet: SimFleet) -> AsyncIterator[OllamaBackend]:
    ollama_backend = OllamaBackend(HostConfig("local", fleet.host("local").url), Timeouts())
    yield ollama_backend
    await ollama_backend.aclose()


async def test_a_chat_streams_deltas_and_ends_with_the_final_timings(backend: OllamaBackend) -> None:
    stream = await backend.chat(REASONER, [{"role": "user", "content": "prove it"}], think=True, options={"num_predict": 12})
    deltas = [delta async for delta in stream]
    assert all(isinstance(delta, Delta) for delta in deltas)
    assert [delta.final is not None for delta in deltas] == [False] * (len(deltas) - 1) + [True]
    assert "".join(delta.thinking for delta in deltas).startswith(f"[simulated reasoning of {REASONER}]")
    final = deltas[-1].final
    assert final is not None and final.done_reason == "length" and final.output_tokens == 12
    assert final.prompt_tokens and final.total_s and final.decode_s and final.decode_tps


async def test_a_generation_streams_its_text_as_content(backend: OllamaBackend) -> None:
    stream = await backend.generate(CODER, "write code", options={"num_predict": 5})
    deltas = [delta async for delta in stream]
    assert "".join(delta.content for delta in deltas).startswith(f"[simulated {CODER}]")
    assert deltas[-1].final is not None and deltas[-1].final.done_reason == "length"


async def test_an_embedding_comes_back_with_its_prompt_count(backend: OllamaBackend) -> None:
    reply = await backend.embed(EMBEDDER, ["one text", "another"])
    assert isinstance(reply, Embeddings) and len(reply.embeddings) == 2
    assert reply.timings.prompt_tokens and reply.timings.total_s


async def test_a_stream_fails_with_a_backend_error_of_the_right_kind(backend: OllamaBackend) -> None:
    stream = await backend.chat("no-such-model:1b", [{"role": "user", "content": "hi"}])
    with pytest.raises(BackendError) as missing:
        await anext(stream)
    assert missing.value.kind is ErrorKind.NOT_FOUND and missing.value.status == 404


async def test_a_host_reports_version_loaded_and_installed_models(backend: OllamaBackend) -> None:
    assert (await backend.version()).startswith("ollama ")
    assert {model.name for model in await backend.installed()} >= {CODER, EMBEDDER, REASONER}
    await backend.embed(EMBEDDER, "load it")
    assert EMBEDDER in {model.model for model in await backend.loaded()}
    assert await backend.queue_signals() is None  # Ollama has no queue gauges


class CountingBackend(OllamaBackend):
    """A second registered kind: Ollama's backend, counting the hosts it was built for."""

    built: ClassVar[list[str]] = []

    def __init__(self, host: HostConfig, timeouts: Timeouts) -> None:
        super().__init__(host, timeouts)
        CountingBackend.built.append(host.url)


async def test_each_host_gets_the_backend_its_api_names(fleet: SimFleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BACKENDS, "counting", f"{__name__}:CountingBackend")
    CountingBackend.built.clear()
    settings = demo_settings(fleet)
    settings = replace(settings, hosts=tuple(replace(host, api="counting") for host in settings.hosts))
    async with ZetaDynamicRouter(settings) as router:
        assert isinstance(router.backends["local"], CountingBackend)
        async with router.chat(ChatRequest(messages=[{"role": "user", "content": "hello"}])) as stream:
            text = "".join([delta.content async for delta in stream])
        assert text.startswith("[simulated ") and stream.record is not None and stream.record.outcome.value == "ok"
    assert CountingBackend.built == [fleet.host("local").url]


def test_the_default_kind_is_ollama() -> None:
    backends = Backends([HostConfig("local", "http://127.0.0.1:11434")], Timeouts())
    assert isinstance(backends["local"], OllamaBackend)

"""Reading a server's own load gauges over HTTP: a real llama.cpp server under load, and loopback
servers answering with vLLM's and SGLang's texts (detection remembered, `none`, failed reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.backends.scripted_openai import ScriptedServer, Status
from tests.backends.test_telemetry_parsing import SGLANG_METRICS, VLLM_METRICS
from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers, filled
from zeta_console.backends.openai import OpenAIBackend
from zeta_console.backends.telemetry import ServerTelemetry
from zeta_console.backends.types import QueueSignals
from zeta_console.settings import HostConfig, Telemetry, Timeouts


async def test_a_real_llama_server_with_one_slot_and_three_requests_runs_one_and_defers_two(llama_servers: LlamaServers) -> None:
    server = llama_servers.own("busy", parallel=1)
    backend = OpenAIBackend(HostConfig("busy", server.url, api="openai"), Timeouts())
    try:
        assert await backend.queue_signals() == QueueSignals(server="llama.cpp", running=0, waiting=0, slots=1)
        async with filled(server.url, 3):
            seen: list[QueueSignals | None] = []

            async def one_running_two_deferred() -> bool:
                seen.append(await backend.queue_signals())
                return seen[-1] == QueueSignals(server="llama.cpp", running=1, waiting=2, slots=1)

            await wait_until(one_running_two_deferred, timeout=30, interval=0.02, message=f"1 running, 2 deferred (read {seen[-3:]})")
    finally:
        await backend.aclose()


@pytest.fixture
async def canned() -> AsyncIterator[ScriptedServer]:
    """A loopback server answering GETs with the texts vLLM and SGLang send."""
    async with ScriptedServer() as server:
        yield server


async def test_auto_detects_vllm_once_and_reads_its_metrics(canned: ScriptedServer) -> None:
    canned.replies = {
        "/v1/models": Status(200, {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "owned_by": "vllm"}]}),
        "/metrics": Status(200, VLLM_METRICS),
    }
    telemetry = ServerTelemetry(f"{canned.url}/v1")  # an OpenAI base URL: the gauges sit beside /v1
    try:
        assert await telemetry.read() == QueueSignals(server="vLLM", running=5, waiting=5, kv_cache_usage=0.62)
        assert await telemetry.read() == QueueSignals(server="vLLM", running=5, waiting=5, kv_cache_usage=0.62)
        assert canned.paths == ["/v1/models", "/metrics", "/metrics"]  # the kind is remembered
        canned.replies["/metrics"] = Status(200, "upstream connect error or disconnect/reset before headers")
        assert await telemetry.read() == QueueSignals(server="vLLM")  # malformed: unknown, not idle
        canned.replies["/metrics"] = Status(500, "Internal Server Error")
        assert await telemetry.read() == QueueSignals(server="vLLM")
    finally:
        await telemetry.aclose()


async def test_auto_detects_sglang_by_its_metric_prefix_when_models_do_not_say(canned: ScriptedServer) -> None:
    canned.replies = {
        "/v1/models": Status(200, {"object": "list", "data": [{"id": "qwen", "owned_by": "someone"}]}),
        "/metrics": Status(200, SGLANG_METRICS),
    }
    telemetry = ServerTelemetry(canned.url)
    try:
        assert await telemetry.read() == QueueSignals(server="SGLang", running=12, waiting=3, kv_cache_usage=0.27)
        assert telemetry.kind == "sglang"
    finally:
        await telemetry.aclose()


async def test_a_server_with_no_known_gauges_has_none_and_is_not_asked_again(canned: ScriptedServer) -> None:
    canned.replies = {"/v1/models": Status(200, {"object": "list", "data": [{"id": "llama3.2:latest", "owned_by": "library"}]})}
    telemetry = ServerTelemetry(canned.url)
    try:
        assert await telemetry.read() is None  # Ollama's /v1, LM Studio: the router counts for itself
        assert await telemetry.read() is None
        assert canned.paths == ["/v1/models", "/metrics"]
    finally:
        await telemetry.aclose()


async def test_telemetry_none_reads_nothing(canned: ScriptedServer) -> None:
    telemetry = ServerTelemetry(canned.url, Telemetry.NONE)
    assert await telemetry.read() is None
    assert canned.paths == []


async def test_a_configured_kind_skips_detection_and_an_unreachable_server_is_unknown(canned: ScriptedServer) -> None:
    canned.replies = {"/metrics": Status(200, SGLANG_METRICS)}
    telemetry = ServerTelemetry(canned.url, Telemetry.SGLANG)
    unreachable = ServerTelemetry("http://127.0.0.1:9", Telemetry.VLLM)  # discard port: connection refused
    undetected = ServerTelemetry("http://127.0.0.1:9")
    try:
        assert (await telemetry.read() or QueueSignals()).running == 12
        assert canned.paths == ["/metrics"]
        assert await unreachable.read() == QueueSignals(server="vLLM")
        assert await undetected.read() == QueueSignals()  # unknown; detection is tried again next time
        assert undetected.kind is None
    finally:
        for each in (telemetry, unreachable, undetected):
            await each.aclose()

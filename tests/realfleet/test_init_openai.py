"""`zeta-console init --host URL` on OpenAI-compatible servers: a real llama.cpp server is found to
be one (`api: openai`, `telemetry: llamacpp`, its model id, its slot count), shown before the file
is written, the file passes check-config and a router on it sees the server; the --force rule holds.
Loopback servers answering as vLLM and SGLang do are told apart by their /metrics names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends.scripted_openai import ScriptedServer, Status
from tests.backends.test_telemetry_parsing import SGLANG_METRICS, VLLM_METRICS
from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers
from zeta_console.cli import main
from zeta_console.composition import build_router
from zeta_console.config import load_settings
from zeta_console.init_config import survey
from zeta_console.router.api import EndpointSnapshot, EndpointStatus
from zeta_console.settings import Settings, Task, Telemetry


def test_init_on_a_real_llama_server_writes_an_openai_host(
    isolated_xdg: Path, llama_servers: LlamaServers, capsys: pytest.CaptureFixture[str]
) -> None:
    server = llama_servers.shared("coder")
    path = isolated_xdg / "written.yaml"
    assert main(["init", "--host", server.url, str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == path.read_text()  # shown, then written
    assert "    api: openai\n    telemetry: llamacpp" in captured.out
    assert "slots: 1    # the server's --parallel (/props total_slots)" in captured.out
    settings = load_settings(path, overrides=False)
    (host,) = settings.hosts
    assert (host.name, host.url, host.api, host.telemetry) == ("local", server.url, "openai", Telemetry.LLAMACPP)
    assert [(m.tier, m.model, m.hosts, m.slots) for m in settings.models] == [("coder", "coder", ("local",), 1)]
    assert "completion" in settings.models[0].capabilities
    assert settings.routes[Task.EMBEDDING] == ()  # no embedding model there, and none to pull on a llama.cpp server
    assert main(["init", "--host", server.url, str(path)]) == 1  # the --force rule
    assert "exists: not overwriting it (use --force" in capsys.readouterr().err
    assert main(["init", "--force", "--host", server.url, str(path)]) == 0
    endpoint = asyncio.run(first_card(settings))
    assert endpoint.status is EndpointStatus.UP and endpoint.server == "llama.cpp"


async def first_card(settings: Settings) -> EndpointSnapshot:
    async with build_router(settings, health_poll_s=0.2, seed=1) as router:
        await wait_until(lambda: router.health.hosts["local"].reachable is True, timeout=10, message="probed")
        (endpoint,) = router.snapshot().endpoints
        return endpoint


@pytest.fixture
async def canned() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        yield server


KINDS = [(VLLM_METRICS, "vllm"), (SGLANG_METRICS, "sglang"), ("", "none")]


@pytest.mark.parametrize(("metrics", "kind"), KINDS, ids=[kind for _, kind in KINDS])
async def test_init_tells_vllm_and_sglang_by_their_metric_names(canned: ScriptedServer, metrics: str, kind: str) -> None:
    canned.replies = {
        "/api/tags": Status(404, "404 page not found"),
        "/v1/models": Status(200, {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "owned_by": "someone"}]}),
        "/props": Status(404, "Not Found"),
        "/slots": Status(404, "Not Found"),
        "/metrics": Status(200, metrics) if metrics else Status(404, "Not Found"),
    }
    found = await survey([canned.url])
    (host,) = found.hosts
    assert (host.api, host.telemetry, host.slots) == ("openai", kind, None)
    assert [model.name for model in found.models] == ["Qwen/Qwen3-8B"]

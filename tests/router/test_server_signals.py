"""Through the real router over real llama.cpp servers: a server whose one slot is taken and whose
queue holds two deferred requests from other clients (sent straight to it, so the router's own
count of it stays 0) loses new traffic to its idle twin, under every policy, on the figures the
health loop reads from the server. Gauges that cannot be read are unknown, not idle."""

from __future__ import annotations

import time
from dataclasses import replace

from tests.backends.scripted_openai import ScriptedServer, Status
from tests.backends.test_telemetry_parsing import VLLM_METRICS
from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers, filled
from tests.router.routing import answer, ask
from zeta_console.backends.types import QueueSignals
from zeta_console.composition import build_router
from zeta_console.router.api import EndpointSnapshot
from zeta_console.router.candidates import EndpointState
from zeta_console.router.policies import policy_names
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Adaptive, HostConfig, ModelConfig, Settings, Task

ONE_RUNNING_TWO_DEFERRED = QueueSignals(server="llama.cpp", running=1, waiting=2, slots=1)


def real_pair(busy_url: str, idle_url: str) -> Settings:
    """One tier on two real llama.cpp servers (the same model under the same alias)."""
    return Settings(
        hosts=(HostConfig("gpu1", busy_url, api="openai"), HostConfig("gpu2", idle_url, api="openai")),
        models=(ModelConfig("coder", "coder", ("gpu1", "gpu2"), frozenset({"completion"})),),
        routes={Task.SIMPLE: ("coder",), Task.CODE: ("coder",), Task.COMPLEX_REASONING: ("coder",), Task.EMBEDDING: ()},
        adaptive=Adaptive(explore_rate=0.0),
    )


def card(router: ZetaDynamicRouter, endpoint: str) -> EndpointSnapshot:
    return next(e for e in router.snapshot().endpoints if e.id == endpoint)


async def test_new_traffic_moves_away_from_a_real_server_with_deferred_requests(llama_servers: LlamaServers) -> None:
    busy, idle = llama_servers.own("coder"), llama_servers.shared("coder")  # the shared one is idle between tests
    async with build_router(real_pair(busy.url, idle.url), health_poll_s=0.1, seed=1) as router:
        assert card(router, "coder@gpu1").server == "llama.cpp"  # detected from the server, not configured
        async with filled(busy.url, 3, max_tokens=200):
            await wait_until(
                lambda: card(router, "coder@gpu1").server_signals == ONE_RUNNING_TWO_DEFERRED, timeout=30, message="the real queue read"
            )
            assert card(router, "coder@gpu1").in_flight == 0  # the router sent it nothing: the load is the server's word
            for policy in policy_names():
                router.controls.set_policy(policy)
                for _ in range(2):
                    _, record = await answer(router, ask("Say hi.", task=Task.CODE, options={"num_predict": 4}))
                    assert (record.outcome, record.endpoint) == ("ok", "coder@gpu2"), f"{policy}: {record.decision.reason}"
                    assert "coder@gpu1 server 1/1 busy" in record.decision.reason, f"{policy}: {record.decision.reason}"


VLLM_MODELS = {"object": "list", "data": [{"id": "coder", "object": "model", "owned_by": "vllm", "max_model_len": 32768}]}


async def test_gauges_that_cannot_be_read_are_unknown_not_idle_and_the_routers_own_count_stands() -> None:
    async with ScriptedServer() as vllm:  # vLLM's replies in its real formats
        vllm.replies = {"/v1/models": Status(200, VLLM_MODELS), "/metrics": Status(200, VLLM_METRICS)}
        settings = replace(
            real_pair(vllm.url, "http://127.0.0.1:9"), models=(ModelConfig("coder", "coder", ("gpu1",), frozenset({"completion"})),)
        )
        async with build_router(settings, health_poll_s=0.05, seed=1) as router:
            endpoint = router.endpoints["coder@gpu1"]

            def state() -> EndpointState:
                return router.view.endpoint_state(endpoint, 0, time.monotonic(), arrivals=False)

            await wait_until(lambda: card(router, "coder@gpu1").server_signals is not None, message="a reading")
            assert card(router, "coder@gpu1").server_signals == QueueSignals(server="vLLM", running=5, waiting=5, kv_cache_usage=0.62)
            # 5 running and 5 waiting: vLLM runs at least 5 at once, whatever the configured slots say.
            assert (state().server_running, state().server_waiting, state().server_slots) == (5, 5, 5)
            vllm.replies["/metrics"] = Status(200, "<html><body>502 Bad Gateway</body></html>")
            await wait_until(lambda: card(router, "coder@gpu1").server_signals == QueueSignals(server="vLLM"), message="an unknown reading")
            assert (state().server_running, state().server_waiting) == (None, None)  # not 0: the router counts for itself
            assert card(router, "coder@gpu1").server == "vLLM"

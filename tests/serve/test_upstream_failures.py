"""Failures behind the endpoint, injected in the emulator: what an Ollama client sees."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import httpx
import ollama
import pytest

from tests.serve.conftest import serving
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.settings import Admission, HostConfig, Settings
from zeta_console.sim import Fault

CODER = "qwen2.5-coder:7b"
ASK = {"model": CODER, "messages": [{"role": "user", "content": "write a python function"}], "options": {"num_predict": 50}}


async def test_an_error_after_the_first_chunk_is_one_ndjson_line_and_no_done() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        served.fleet.host("local").set_fault(CODER, Fault(fail_after_chunks=3))
        streamed = await http.post("/api/chat", json=ASK)
        whole = await http.post("/api/chat", json={**ASK, "stream": False})
        with pytest.raises(ollama.ResponseError) as caught:
            async for _ in await ollama.AsyncClient(host=served.url).chat(model=CODER, messages=ASK["messages"], stream=True):
                pass
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert streamed.status_code == 200
    assert len(lines) == 4 and "error" in lines[-1]
    assert not any(line.get("done") for line in lines)
    assert whole.status_code == 500 and "error" in whole.json()
    assert caught.value.status_code == -1


async def test_a_busy_upstream_is_503_with_ollamas_text() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        served.fleet.host("local").set_fault(CODER, Fault(busy_burst=100))
        response = await http.post("/api/chat", json={**ASK, "stream": False})
    assert response.status_code == 503
    assert response.json()["error"].startswith("server busy")
    assert response.headers["retry-after"] == "1"  # no estimate of its own: the shortest back-off


async def test_a_request_shed_for_its_predicted_wait_is_503_with_retry_after() -> None:
    # At the models' own speed and with a long answer: the held answer's predicted end (which a newcomer's wait counts
    # the rest of) stays seconds away. At 20x it was tens of ms away, a newcomer could find it just overrun, a wait
    # of ~0 under the patience, and wait for the held slot until its client timed out.
    settings = Settings(admission=Admission(patience_s=0.001))
    async with serving(time_scale=1.0, base=settings) as served, httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        long = {**ASK, "options": {"num_predict": 200}, "stream": False}
        assert (await http.post("/api/chat", json=long)).status_code == 200  # the coder measured, its answers long
        held = served.router.chat(ChatRequest(messages=ASK["messages"], target="coder"))
        await held.__anext__()  # its one slot taken: a newcomer would wait the rest of a long answer
        try:
            response = await http.post("/api/chat", json={**ASK, "stream": False})
        finally:
            await held.aclose()
    assert response.status_code == 503
    assert "predicted wait" in response.json()["error"] and "admission.patience_s" in response.json()["error"]
    assert int(response.headers["retry-after"]) >= 1


async def test_a_drained_pinned_model_is_503_with_the_routers_reason() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        served.router.controls.drain("coder@local")
        response = await http.post("/api/chat", json=ASK)
    assert response.status_code == 503
    assert "drained" in response.json()["error"]


async def test_an_unreachable_upstream_is_502_naming_its_host() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = replace(Settings(), hosts=(HostConfig(name="local", url=dead_url),))
    async with ZetaDynamicRouter(settings, health_poll_s=60) as router:
        endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
        try:
            async with httpx.AsyncClient(base_url=endpoint.url) as http:
                response = await http.post("/api/chat", json={**ASK, "stream": False})
        finally:
            await endpoint.stop()
    assert response.status_code == 502
    assert response.json() == {"error": f"upstream {dead_url} (coder@local): connection refused"}

"""Ollama's wire contract with raw HTTP: statuses, error texts, content types, decision headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.serve.conftest import Served

pytestmark = pytest.mark.asyncio(loop_scope="module")

HELLO = [{"role": "user", "content": "hello"}]


@pytest_asyncio.fixture(loop_scope="module")
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/generate", b"  \n", 400, "missing request body"),
        ("/api/embed", b"", 400, "missing request body"),
        ("/api/show", b"", 400, "missing request body"),
        ("/api/chat", b'{"model":', 400, "unexpected EOF"),
        ("/api/chat", b"{model}", 400, "invalid character 'm' looking for beginning of object key string"),
        ("/api/chat", b"[]", 400, "json: cannot unmarshal array into Go value of type api.ChatRequest"),
        ("/api/chat", b'{"model":7}', 400, "json: cannot unmarshal number into Go struct field api.ChatRequest.model of type string"),
        (
            "/api/chat",
            b'{"model":"zeta:auto","stream":"yes"}',
            400,
            "json: cannot unmarshal string into Go struct field api.ChatRequest.stream of type bool",
        ),
        (
            "/api/chat",
            b'{"model":"zeta:auto","messages":{}}',
            400,
            "json: cannot unmarshal object into Go struct field api.ChatRequest.messages of type []api.Message",
        ),
        ("/api/chat", b'{"messages":[]}', 400, "model is required"),
        ("/api/chat", b'{"model":"zeta:nope"}', 404, "model 'zeta:nope' not found"),
        ("/api/generate", b'{"model":""}', 404, "model '' not found"),
        ("/api/generate", b'{"model":"llama9"}', 404, "model 'llama9' not found"),
        ("/api/embed", b'{"model":"llama9","input":"x"}', 404, 'model "llama9" not found, try pulling it first'),
        ("/api/embeddings", b'{"model":"llama9","prompt":"x"}', 404, 'model "llama9" not found, try pulling it first'),
        ("/api/show", b'{"model":"llama9"}', 404, "model 'llama9:latest' not found"),
        ("/api/show", b'{"verbose":true}', 400, "model is required"),
        ("/api/chat", b'{"model":"zeta:embed","messages":[]}', 400, '"zeta:embed" does not support chat'),
        ("/api/generate", b'{"model":"qwen3-embedding:4b","prompt":"x"}', 400, '"qwen3-embedding:4b" does not support generate'),
        ("/api/embed", b'{"model":"zeta:code","input":"x"}', 400, '"zeta:code" does not support embeddings'),
        ("/api/chat", b'{"model":"zeta:code","think":"ultra"}', 400, 'invalid think value: "ultra"'),
        ("/api/chat", b'{"model":"zeta:auto","keep_alive":"300"}', 400, 'time: missing unit in duration "300"'),
        ("/api/chat", b'{"model":"zeta:auto","options":{"num_ctx":"big"}}', 400, 'option "num_ctx" must be of type integer'),
        ("/api/chat", b'{"model":"zeta:auto","top_logprobs":21}', 400, "top_logprobs must be between 0 and 20"),
        (
            "/api/chat",
            b'{"model":"zeta:auto","messages":[{"role":"user","images":["/etc/hosts"]}]}',
            400,
            "illegal base64 data in messages.images",
        ),
        ("/api/chat", b'{"model":"qwen3-embedding:4b","messages":[]}', 400, '"qwen3-embedding:4b" does not support chat'),
        ("/api/generate", b'{"model":"zeta:auto","raw":true,"system":"s"}', 400, "raw mode does not support template, system, or context"),
        ("/api/embed", b'{"model":"zeta:embed","input":[1,2]}', 400, "invalid input type"),
    ],
)
async def test_client_mistakes_get_ollamas_status_and_text(
    http: httpx.AsyncClient, path: str, body: bytes, status: int, error: str
) -> None:
    response = await http.post(path, content=body)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_unknown_paths_and_verbs_get_gins_plain_text(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/no-such-route")
    wrong_verb = await http.get("/api/chat")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert (wrong_verb.status_code, wrong_verb.text) == (405, "405 method not allowed")
    assert missing.headers["content-type"].startswith("text/plain")


async def test_liveness_and_version(http: httpx.AsyncClient) -> None:
    head = await http.head("/")
    get = await http.get("/")
    version = await http.get("/api/version")
    assert head.status_code == 200 and head.content == b""
    assert get.text == "Ollama is running"
    assert isinstance(version.json()["version"], str)


async def test_stream_defaults_to_true_and_is_ndjson(http: httpx.AsyncClient) -> None:
    async with http.stream("POST", "/api/chat", json={"model": "zeta:simple", "messages": HELLO}) as response:
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert response.headers["content-type"] == "application/x-ndjson"
    assert "content-length" not in response.headers
    assert len(lines) > 1 and lines[-1]["done"] is True
    assert all(line["model"] == "zeta:simple" for line in lines)


async def test_stream_false_is_one_json_object(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/generate", json={"model": "zeta:code", "prompt": "write a python function", "stream": False})
    body = response.json()
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert body["done"] is True and body["response"] and body["model"] == "zeta:code"


async def test_decision_headers_name_the_endpoint_that_served(served: Served, http: httpx.AsyncClient) -> None:
    response = await http.post("/api/chat", json={"model": "zeta:reason", "messages": HELLO, "stream": False, "think": False})
    headers = response.headers
    tier, _, host = headers["x-zeta-endpoint"].partition("@")
    assert headers["x-zeta-model"] == served.settings.model(tier).model
    assert host in {config.name for config in served.settings.hosts}
    assert headers["x-zeta-task"] == "complex_reasoning"
    assert headers["x-zeta-reason"]
    assert "x-zeta-fallbacks" in headers
    assert all(value.isascii() and "\n" not in value for value in headers.values())
    record = served.router.snapshot()
    assert headers["x-zeta-endpoint"] in {endpoint.id for endpoint in record.endpoints}


async def test_embed_has_decision_headers_and_echoes_the_model(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/embed", json={"model": "Zeta:Embed", "input": "hello"})
    assert response.json()["model"] == "Zeta:Embed"
    assert response.headers["x-zeta-task"] == "embedding"
    assert response.headers["x-zeta-model"] == "qwen3-embedding:4b"


async def test_metrics_count_the_traffic(http: httpx.AsyncClient) -> None:
    await http.post("/api/chat", json={"model": "zeta:code", "messages": HELLO, "stream": False})
    await http.post("/api/chat", content=b"")
    text = (await http.get("/metrics")).text
    assert 'zeta_requests_total{client="serve",endpoint="coder@local",outcome="ok"}' in text
    assert "zeta_ttft_seconds_bucket" in text and "zeta_request_duration_seconds_count" in text
    assert 'zeta_decisions_total{policy="adaptive",reason_kind="routed",task="code"}' in text
    assert 'zeta_endpoint_in_flight{endpoint="coder@local"' in text
    assert 'zeta_endpoint_breaker_open{endpoint="reasoner@local"' in text
    assert 'zeta_serve_responses_total{path="/api/chat",status="400"}' in text

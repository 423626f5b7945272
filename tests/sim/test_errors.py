"""Ollama's error statuses and texts (ollama-api.md §2.2) and the client exceptions they become (§2.6)."""

from __future__ import annotations

import asyncio

import httpx
import ollama
import pytest

from zeta_console.sim import SimFleet

CODER = "qwen2.5-coder:7b"
EMBEDDER = "qwen3-embedding:4b"
HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/chat", b"{bad", 400, "invalid character 'b' looking for beginning of object key string"),
        ("/api/chat", b'{"model": 5}', 400, "json: cannot unmarshal number into Go struct field api.ChatRequest.model of type string"),
        ("/api/chat", b'{"model": ""}', 400, "model is required"),
        ("/api/generate", b'{"model": ""}', 404, "model '' not found"),
        ("/api/chat", b'{"model": "nope:1b", "messages": []}', 404, "model 'nope:1b' not found"),
        ("/api/generate", b'{"model": "nope:1b", "prompt": "x"}', 404, "model 'nope:1b' not found"),
        ("/api/embed", b'{"model": "nope", "input": "x"}', 404, 'model "nope" not found, try pulling it first'),
        ("/api/embeddings", b'{"model": "nope", "prompt": "x"}', 404, 'model "nope" not found, try pulling it first'),
        ("/api/show", b'{"model": "nope"}', 404, "model 'nope:latest' not found"),
        ("/api/show", b"{}", 400, "model is required"),
        (
            "/api/chat",
            b'{"model": "qwen3-embedding:4b", "messages": [{"role": "user", "content": "x"}]}',
            400,
            '"qwen3-embedding:4b" does not support chat',
        ),
        ("/api/generate", b'{"model": "qwen3-embedding:4b", "prompt": "x"}', 400, '"qwen3-embedding:4b" does not support generate'),
        ("/api/chat", b'{"model": "qwen2.5-coder:7b", "think": true, "messages": []}', 400, '"qwen2.5-coder:7b" does not support thinking'),
        ("/api/chat", b'{"model": "qwen2.5-coder:7b", "think": "loud", "messages": []}', 400, 'invalid think value: "loud"'),
        (
            "/api/generate",
            b'{"model": "qwen2.5-coder:7b", "prompt": "x", "raw": true, "system": "s"}',
            400,
            "raw mode does not support template, system, or context",
        ),
        ("/api/chat", b'{"model": "qwen2.5-coder:7b", "messages": [], "top_logprobs": 21}', 400, "top_logprobs must be between 0 and 20"),
        ("/api/chat", b'{"model": "qwen2.5-coder:7b", "messages": [], "keep_alive": "300"}', 400, 'time: missing unit in duration "300"'),
        ("/api/embed", b'{"model": "qwen3-embedding:4b", "input": [1, 2]}', 400, "invalid input type"),
        (
            "/api/chat",
            b'{"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "x"}], "options": {"num_predict": "many"}}',
            500,
            'option "num_predict" must be of type integer',
        ),
    ],
)
async def test_error_status_and_text(fleet: SimFleet, path: str, body: bytes, status: int, error: str) -> None:
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        response = await http.post(path, content=body)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_tools_to_a_model_without_tools(fleet: SimFleet) -> None:
    body = {"model": "qwen3-embedding:4b", "input": "x"}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        assert (await http.post("/api/embed", json=body)).status_code == 200  # embed never checks capability
        tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
        response = await http.post("/api/chat", json={"model": "qwen3-embedding:4b", "messages": [], "tools": tools})
    assert response.json() == {"error": '"qwen3-embedding:4b" does not support chat'}


async def test_gin_style_unknown_path_and_wrong_verb(fleet: SimFleet) -> None:
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        missing = await http.get("/api/nothing")
        wrong_verb = await http.get("/api/chat")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert (wrong_verb.status_code, wrong_verb.text) == (405, "405 method not allowed")
    assert missing.headers["content-type"].startswith("text/plain")


async def test_client_exceptions(client: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as not_found:
        await client.chat(model="nope", messages=HELLO)
    assert (not_found.value.status_code, not_found.value.error) == (404, "model 'nope' not found")
    with pytest.raises(ollama.ResponseError) as streamed:
        async for _ in await client.chat(model=EMBEDDER, messages=HELLO, stream=True):
            pass
    assert (streamed.value.status_code, streamed.value.error) == (400, f'"{EMBEDDER}" does not support chat')
    with pytest.raises(ollama.ResponseError) as thinking:
        await client.generate(model=CODER, prompt="x", think=True)
    assert thinking.value.status_code == 400


async def test_connection_refused_exceptions(fleet: SimFleet) -> None:
    host = fleet.host("local")
    host.host_down()
    async with ollama.AsyncClient(host=host.url) as client:
        with pytest.raises(ConnectionError):
            await client.chat(model=CODER, messages=HELLO)
        with pytest.raises(httpx.ConnectError):
            async for _ in await client.chat(model=CODER, messages=HELLO, stream=True):
                pass


async def test_a_client_that_leaves_mid_upload_leaves_no_traceback(fleet: SimFleet, caplog: pytest.LogCaptureFixture) -> None:
    host = fleet.host("local")
    _, writer = await asyncio.open_connection("127.0.0.1", int(host.url.rsplit(":", 1)[1]))
    writer.write(b'POST /api/show HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"model": ')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient(base_url=host.url) as client:  # the emulator has read the abandoned request's end by now
        assert (await client.get("/api/version")).status_code == 200
    assert not [record for record in caplog.records if record.exc_info], [record.getMessage() for record in caplog.records]

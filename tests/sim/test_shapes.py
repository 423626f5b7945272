"""Every endpoint's shape, as the official client and raw HTTP see it."""

from __future__ import annotations

import json

import httpx
import ollama

from zeta_console.sim import SimFleet

CODER = "qwen2.5-coder:7b"
REASONER = "qwen3:14b"
HELLO = [{"role": "user", "content": "hello there"}]


async def test_liveness_and_version(fleet: SimFleet) -> None:
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        root = await http.get("/")
        assert (root.status_code, root.text) == (200, "Ollama is running")
        assert root.headers["content-type"].startswith("text/plain")
        assert (await http.head("/")).status_code == 200
        version = await http.get("/api/version")
        assert version.json() == {"version": "0.32.15"}
        assert version.headers["content-type"] == "application/json; charset=utf-8"


async def test_tags_lists_the_three_tiers(client: ollama.AsyncClient) -> None:
    listed = await client.list()
    assert {model.model for model in listed.models} == {CODER, "qwen3-embedding:4b", REASONER}
    coder = next(model for model in listed.models if model.model == CODER)
    assert coder.details is not None and coder.details.family == "qwen2" and coder.details.parameter_size == "7.6B"
    assert coder.size == 4_683_087_332 and len(coder.digest or "") == 64
    times = [model.modified_at.timestamp() for model in listed.models if model.modified_at]
    assert len(times) == 3 and times == sorted(times, reverse=True)


async def test_chat_non_stream_shape_and_metrics(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    reply = await client.chat(model=CODER, messages=HELLO)
    assert reply.done and reply.done_reason == "stop"
    assert reply.message.role == "assistant" and (reply.message.content or "").startswith(f"[simulated {CODER}]")
    assert reply.eval_count and reply.prompt_eval_count and reply.total_duration and reply.load_duration
    assert reply.total_duration >= reply.load_duration + (reply.eval_duration or 0)
    again = await client.chat(model=CODER, messages=HELLO)
    assert again.message.content == reply.message.content  # deterministic from the prompt


async def test_chat_stream_field_order_and_final_chunk(fleet: SimFleet) -> None:
    body = {"model": CODER, "messages": HELLO, "options": {"num_predict": 3}}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http, http.stream("POST", "/api/chat", json=body) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert "content-length" not in response.headers
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert [list(line) for line in lines[:-1]] == [["model", "created_at", "message", "done"]] * 3
    final = lines[-1]
    assert list(final)[:5] == ["model", "created_at", "message", "done", "done_reason"]
    assert final["done_reason"] == "length" and final["eval_count"] == 3 and final["message"]["content"] == ""
    assert final["created_at"].endswith("Z")


async def test_async_stream_with_the_official_client(client: ollama.AsyncClient) -> None:
    parts = [part async for part in await client.chat(model=CODER, messages=HELLO, stream=True)]
    assert len(parts) > 5 and parts[-1].done and not any(part.done for part in parts[:-1])
    text = "".join(part.message.content or "" for part in parts)
    whole = await client.chat(model=CODER, messages=HELLO)
    assert text == whole.message.content

"""Embeddings, thinking, generate, show and ps: the content and metadata the emulator serves."""

from __future__ import annotations

import math

import httpx
import ollama

from tests.sim.conftest import CODER, EMBEDDER, REASONER
from zeta_console.sim import SimFleet


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


async def test_embed_vectors_are_normalised_and_semantic(client: ollama.AsyncClient) -> None:
    texts = ["write a python function to sort a list", "python function that sorts a list", "the weather in paris is mild today"]
    reply = await client.embed(model=EMBEDDER.name, input=texts)
    vectors = [list(vector) for vector in reply.embeddings]
    assert [len(vector) for vector in vectors] == [2560] * 3
    assert all(abs(norm(vector) - 1.0) < 1e-9 for vector in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert reply.prompt_eval_count and reply.total_duration and reply.model == EMBEDDER.name
    short = await client.embed(model=EMBEDDER.name, input=texts[0], dimensions=256)
    (cut,) = short.embeddings
    assert len(cut) == 256 and abs(norm(list(cut)) - 1.0) < 1e-9
    assert (await client.embed(model=EMBEDDER.name, input=texts[0])).embeddings[0] == reply.embeddings[0]


async def test_embed_load_only_and_legacy_endpoint(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    assert (await client.embed(model=EMBEDDER.name, input=[])).embeddings == []
    legacy = await client.embeddings(model=EMBEDDER.name, prompt="hello world")
    assert len(legacy.embedding) == 2560 and abs(norm(list(legacy.embedding)) - 1.0) > 0.1
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        assert (await http.post("/api/embeddings", json={"model": EMBEDDER.name})).json() == {"embedding": []}
        raw = (await http.post("/api/embed", json={"model": EMBEDDER.name, "input": "x"})).json()
    assert list(raw) == ["model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"]


async def test_chat_models_embed_with_their_own_width(client: ollama.AsyncClient) -> None:
    (vector,) = (await client.embed(model=CODER.name, input="x")).embeddings
    assert len(vector) == CODER.embedding_length


async def test_thinking_by_default_and_think_false(client: ollama.AsyncClient) -> None:
    thinking = await client.chat(model=REASONER.name, messages=[{"role": "user", "content": "why?"}], options={"num_predict": 400})
    assert thinking.message.thinking and thinking.message.thinking.startswith("[simulated reasoning")
    plain = await client.chat(model=REASONER.name, messages=[{"role": "user", "content": "why?"}], think=False)
    assert plain.message.thinking is None and (plain.message.content or "").startswith(f"[simulated {REASONER.name}]")
    parts = [part async for part in await client.generate(model=REASONER.name, prompt="why?", stream=True, options={"num_predict": 5})]
    assert parts[0].thinking and parts[0].response == ""


async def test_generate_shapes_stop_and_context(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    reply = await client.generate(model=CODER.name, prompt="hello")
    assert (reply.response or "").startswith(f"[simulated {CODER.name}]") and reply.done_reason == "stop" and reply.context
    stopped = await client.generate(model=CODER.name, prompt="hello", options={"stop": ["]"]})
    assert stopped.response == f"[simulated {CODER.name}" and stopped.done_reason == "stop"
    loaded = await client.generate(model=CODER.name)
    assert (loaded.done_reason, loaded.response) == ("load", "")
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        raw = (await http.post("/api/generate", json={"model": CODER.name, "prompt": "hi", "raw": True, "stream": False})).json()
    assert "context" not in raw and list(raw)[:5] == ["model", "created_at", "response", "done", "done_reason"]


async def test_show_has_model_info_and_capabilities(client: ollama.AsyncClient) -> None:
    shown = await client.show(REASONER.name)
    assert shown.capabilities == ["completion", "tools", "thinking"]
    assert shown.modelinfo is not None and shown.modelinfo["qwen3.context_length"] == 40960
    assert shown.details is not None and shown.details.family == "qwen3"
    embedder = await client.show(EMBEDDER.name)
    assert embedder.modelinfo is not None and embedder.modelinfo["qwen3.embedding_length"] == 2560
    assert (await client.show("QWEN2.5-Coder:7B")).capabilities == ["completion", "tools", "insert"]

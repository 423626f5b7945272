"""Any front, any back: each of serve's dialects (Ollama's /api, OpenAI's /v1), through its official
client, served by each kind of backend (the Ollama emulator; real llama.cpp servers as `api: openai`
hosts), streamed, whole and embedding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import ollama
import openai
import pytest

from tests.llama_fleet import LlamaServers
from tests.serve.conftest import serving
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.settings import HostConfig, ModelConfig, Settings, Task

HELLO = [{"role": "user", "content": "Say hello"}]
LIMIT = 8  # tokens: a real model on a shared core


@dataclass(frozen=True)
class Stack:
    url: str
    router: ZetaDynamicRouter
    chat_endpoint: str  # the endpoint chat requests reach (X-Zeta-Endpoint)
    embed_endpoint: str
    dimensions: int

    def answered(self, endpoint: str) -> bool:
        return any(point.id == endpoint and point.successes for point in self.router.snapshot().endpoints)


def llama_settings(servers: LlamaServers) -> Settings:
    chat, embed = servers.shared("coder"), servers.shared("embedder", embedding=True)
    hosts = (HostConfig("llama", chat.url, api="openai"), HostConfig("llama-embed", embed.url, api="openai"))
    models = (
        ModelConfig("coder", "coder", ("llama",), frozenset({"completion"})),
        ModelConfig("embedder", "embedder", ("llama-embed",), frozenset({"embedding"})),
    )
    routes = {Task.SIMPLE: ("coder",), Task.CODE: ("coder",), Task.COMPLEX_REASONING: ("coder",), Task.EMBEDDING: ("embedder",)}
    return replace(Settings(), hosts=hosts, models=models, routes=routes, source="<llama.cpp fleet>")


@asynccontextmanager
async def backed_by(back: str, servers: LlamaServers) -> AsyncIterator[Stack]:
    if back == "ollama":
        async with serving() as served:
            yield Stack(served.url, served.router, "coder@local", "embedder@local", dimensions=0)
        return
    settings = llama_settings(servers)
    async with ZetaDynamicRouter(settings) as router:
        endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
        try:
            yield Stack(endpoint.url, router, "coder@llama", "embedder@llama-embed", dimensions=576)
        finally:
            await endpoint.stop()


BACKS = ["ollama", "openai"]


@pytest.mark.parametrize("back", BACKS)
async def test_ollama_front_streams(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, ollama.AsyncClient(host=stack.url) as client:
        parts = [part async for part in await client.chat(model="zeta:code", messages=HELLO, stream=True, options={"num_predict": LIMIT})]
        assert stack.answered(stack.chat_endpoint)
    assert all(part.model == "zeta:code" for part in parts) and parts[-1].done and not any(part.done for part in parts[:-1])
    assert "".join(part.message.content or "" for part in parts) and parts[-1].eval_count


@pytest.mark.parametrize("back", BACKS)
async def test_ollama_front_whole(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, ollama.AsyncClient(host=stack.url) as client:
        reply = await client.generate(model="zeta:code", prompt="Say hello", options={"num_predict": LIMIT})
        assert stack.answered(stack.chat_endpoint)
    assert reply.model == "zeta:code" and reply.done and reply.response and reply.eval_count


@pytest.mark.parametrize("back", BACKS)
async def test_ollama_front_embeds(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, ollama.AsyncClient(host=stack.url) as client:
        reply = await client.embed(model="zeta:embed", input=["one", "two"])
        assert stack.answered(stack.embed_endpoint)
    assert len(reply.embeddings) == 2 and len(reply.embeddings[0]) > 8
    assert not stack.dimensions or len(reply.embeddings[0]) == stack.dimensions


@pytest.mark.parametrize("back", BACKS)
async def test_openai_front_streams(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="-") as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="zeta:code", messages=HELLO, max_tokens=LIMIT, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["x-zeta-endpoint"] == stack.chat_endpoint
        async with raw.parse() as stream:
            chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant" and all(chunk.model == "zeta:code" for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= LIMIT


@pytest.mark.parametrize("back", BACKS)
async def test_openai_front_whole(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="-") as client:
        raw = await client.chat.completions.with_raw_response.create(model="zeta:code", messages=HELLO, max_completion_tokens=LIMIT)
        completion = await client.completions.create(model="zeta:code", prompt="Once upon a time", max_tokens=LIMIT)
    reply = raw.parse()
    assert raw.headers["x-zeta-endpoint"] == stack.chat_endpoint
    assert reply.model == "zeta:code" and reply.choices[0].message.content
    assert reply.usage is not None and 0 < reply.usage.completion_tokens <= LIMIT
    assert completion.choices[0].text and completion.usage is not None and completion.usage.completion_tokens > 0


@pytest.mark.parametrize("back", BACKS)
async def test_openai_front_embeds(back: str, llama_servers: LlamaServers) -> None:
    async with backed_by(back, llama_servers) as stack, openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="-") as client:
        raw = await client.embeddings.with_raw_response.create(model="zeta:embed", input=["one", "two", "three"])
    assert raw.headers["x-zeta-endpoint"] == stack.embed_endpoint
    vectors = raw.parse().data  # base64 on the wire (the SDK's default), decoded by the SDK
    assert [item.index for item in vectors] == [0, 1, 2] and len(vectors[0].embedding) > 8
    assert not stack.dimensions or len(vectors[0].embedding) == stack.dimensions

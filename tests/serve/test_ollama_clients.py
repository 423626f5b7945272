"""The official ollama client, sync and async, against `serve` over the emulator."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import httpx
import ollama
import pytest

from tests.helpers import wait_until
from tests.serve.conftest import Served
from zeta_console.router.api import Outcome, RequestRecord

pytestmark = pytest.mark.asyncio(loop_scope="module")

HELLO = [{"role": "user", "content": "hello, how are you"}]
CODE = [{"role": "user", "content": "write a python function to reverse a list"}]


async def test_async_chat_streams_chunks_and_echoes_the_asked_model(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        parts = [part async for part in await client.chat(model="zeta:auto", messages=HELLO, stream=True)]
    assert len(parts) > 1
    assert all(part.model == "zeta:auto" for part in parts)
    assert parts[-1].done and parts[-1].eval_count
    assert not any(part.done for part in parts[:-1])
    assert "".join(part.message.content or "" for part in parts)


async def test_sync_chat_without_streaming_aggregates_one_reply(served: Served) -> None:
    def ask() -> ollama.ChatResponse:
        return ollama.Client(host=served.url).chat(model="zeta:code", messages=CODE, think=False)

    reply = await asyncio.to_thread(ask)
    assert reply.model == "zeta:code"
    assert reply.done and reply.done_reason
    assert reply.message.role == "assistant" and reply.message.content


async def test_a_conversation_with_tools_and_tool_results_is_routed_as_plain_data(served: Served) -> None:
    weather = {"type": "function", "function": {"name": "weather", "description": "today's weather", "parameters": {"type": "object"}}}
    asked = [
        *CODE,
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "sunny", "tool_name": "weather"},
    ]
    # The reply can reach the client before the router records the request: wait for its record.
    records: asyncio.Queue[RequestRecord] = asyncio.Queue()
    unsubscribe = served.router.subscribe(lambda event: records.put_nowait(event) if isinstance(event, RequestRecord) else None)
    try:
        async with ollama.AsyncClient(host=served.url) as client:
            reply = await client.chat(model="zeta:code", messages=asked, tools=[weather], think=False)
        record = await asyncio.wait_for(records.get(), timeout=10)
    finally:
        unsubscribe()
    assert reply.done and reply.message.content
    assert record.outcome is Outcome.OK
    # routed to a model that takes tools (the code route's coder, or the reasoner when explored or measured)
    chosen = next(endpoint for endpoint in served.router.snapshot().endpoints if endpoint.id == record.endpoint)
    assert "tools" in chosen.capabilities


async def test_sync_chat_streams(served: Served) -> None:
    def ask() -> list[ollama.ChatResponse]:
        return list(ollama.Client(host=served.url).chat(model="zeta:simple", messages=HELLO, stream=True))

    parts = await asyncio.to_thread(ask)
    assert parts[-1].done and {part.model for part in parts} == {"zeta:simple"}


async def test_real_model_name_pins_the_request_to_that_model(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        reply = await client.chat(model="qwen3:14b", messages=HELLO, think=False)
        response = await client._client.post("/api/chat", json={"model": "QWEN3:14b", "messages": HELLO, "stream": False, "think": False})
    assert reply.model == "qwen3:14b"
    assert response.headers["x-zeta-model"] == "qwen3:14b"
    assert response.json()["model"] == "QWEN3:14b"  # echoed exactly as sent


async def test_generate_streaming_and_not(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        parts = [part async for part in await client.generate(model="zeta:code", prompt="def reverse(xs):", stream=True)]
        whole = await client.generate(model="qwen2.5-coder:7b", prompt="write a python function to add two numbers")
    assert parts[-1].done and all(part.model == "zeta:code" for part in parts)
    assert whole.model == "qwen2.5-coder:7b" and whole.done and whole.response


async def test_thinking_model_streams_its_thinking(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        reply = await client.chat(
            model="zeta:reason", messages=[{"role": "user", "content": "prove that there are infinitely many primes"}], think=True
        )
    assert reply.model == "zeta:reason"
    assert reply.message.thinking and reply.message.content


async def test_embed_and_legacy_embeddings(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        many = await client.embed(model="zeta:embed", input=["one", "two"])
        auto = await client.embed(model="zeta:auto", input="one", dimensions=64)
        legacy = await client.embeddings(model="qwen3-embedding:4b", prompt="one")
    assert many.model == "zeta:embed" and len(many.embeddings) == 2
    assert auto.model == "zeta:auto" and len(auto.embeddings[0]) == 64
    assert len(legacy.embedding) > 0


async def test_list_shows_virtual_and_real_models(served: Served) -> None:
    listing = await asyncio.to_thread(lambda: ollama.Client(host=served.url).list())
    names = [model.model for model in listing.models]
    assert names[:5] == ["zeta:auto", "zeta:simple", "zeta:code", "zeta:reason", "zeta:embed"]
    assert {"qwen2.5-coder:7b", "qwen3-embedding:4b", "qwen3:14b"} <= set(names)


async def test_show_reports_the_union_of_reachable_capabilities(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        auto = await client.show("zeta:auto")
        code = await client.show("zeta:code")
        embed = await client.show("zeta:embed")
        coder = await client.show("qwen2.5-coder:7b")
    assert {"completion", "embedding", "thinking", "tools"} <= set(auto.capabilities or ())
    assert "embedding" not in (code.capabilities or ()) and "completion" in (code.capabilities or ())
    assert embed.capabilities == ["embedding"]
    assert "thinking" not in (coder.capabilities or ())
    assert auto.modelinfo is not None


async def test_ps_lists_what_the_fleet_has_loaded(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        # keep_alive is forwarded; at the emulator's 200x a default 5 min would lapse before the router's next /api/ps poll
        await client.chat(model="qwen2.5-coder:7b", messages=HELLO, keep_alive="1h")

        async def coder_listed() -> bool:
            return "qwen2.5-coder:7b" in {model.model for model in (await client.ps()).models}

        await wait_until(coder_listed, timeout=10, message="the coder in /api/ps")
        running = (await client.ps()).models
    assert all(model.size and model.expires_at for model in running)


async def test_client_errors_arrive_as_response_errors(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        with pytest.raises(ollama.ResponseError) as unknown:
            await client.chat(model="llama9:70b", messages=HELLO)
        with pytest.raises(ollama.ResponseError) as embed_chat:
            await client.chat(model="zeta:embed", messages=HELLO)
        with pytest.raises(ollama.ResponseError) as streamed:
            async for _ in await client.generate(model="nope", prompt="x", stream=True):
                pass
        with pytest.raises(ollama.ResponseError) as think:
            await client.chat(model="qwen2.5-coder:7b", messages=HELLO, think=True)
    assert (unknown.value.status_code, unknown.value.error) == (404, "model 'llama9:70b' not found")
    assert (embed_chat.value.status_code, embed_chat.value.error) == (400, '"zeta:embed" does not support chat')
    assert (streamed.value.status_code, streamed.value.error) == (404, "model 'nope' not found")
    assert (think.value.status_code, think.value.error) == (400, '"qwen2.5-coder:7b" does not support thinking')


async def test_load_only_chat_answers_once(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        reply = await client.chat(model="qwen2.5-coder:7b", messages=[])
    assert reply.done and reply.model == "qwen2.5-coder:7b"


async def test_many_concurrent_streams_all_complete(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:

        async def one(index: int) -> str:
            async with contextlib.aclosing(
                await client.chat(model="zeta:auto", messages=[{"role": "user", "content": f"say {index}"}], stream=True)
            ) as parts:
                return "".join([part.message.content or "" async for part in parts])

        answers = await asyncio.gather(*(one(index) for index in range(12)))
    assert all(answers)


async def test_fill_in_the_middle_goes_to_a_model_that_can_insert(served: Served) -> None:
    """A reasoning prompt would go to the reasoner, but only the coder declares `insert`."""
    body = {
        "model": "zeta:auto",
        "prompt": "prove step by step that the algorithm terminates",
        "suffix": "    return result",
        "stream": False,
    }
    async with httpx.AsyncClient(base_url=served.url) as http:
        reply = await http.post("/api/generate", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Zeta-Task"] == "complex_reasoning"
    assert reply.headers["X-Zeta-Model"] == "qwen2.5-coder:7b"
    assert reply.json()["response"]


async def test_generate_with_raw_and_template_is_forwarded(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        raw = await client.generate(model="zeta:code", prompt="<|fim_prefix|>def f():", raw=True)
        templated = await client.generate(model="zeta:code", prompt="hello", template="{{ .Prompt }}")
    assert raw.done and raw.response and templated.done and templated.response


async def test_embed_keep_alive_reaches_the_model(served: Served) -> None:
    async with ollama.AsyncClient(host=served.url) as client:
        await client.embed(model="zeta:embed", input="one", keep_alive="2h")
    async with ollama.AsyncClient(host=served.fleet.host("local").url) as upstream:
        loaded = {model.model: model for model in (await upstream.ps()).models}
    expires_at = loaded["qwen3-embedding:4b"].expires_at
    assert expires_at is not None
    # 2 h at the emulator's 200x is 36 s of wall time; the default 5 min would be 1.5 s
    assert expires_at - datetime.now(expires_at.tzinfo) > timedelta(seconds=20)

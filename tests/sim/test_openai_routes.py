"""The emulator's `/v1` routes, as Ollama serves them (backends-api.md §3): the official `openai`
client for the shapes it reads, raw HTTP for the bytes and Ollama's quirks."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio

from tests.helpers import wait_until
from tests.sim.conftest import fleet_with
from zeta_console.sim import SimFleet, run_fleet
from zeta_console.sim.faults import Fault
from zeta_console.sim.profiles import CODER as CODER_PROFILE

CODER = "qwen2.5-coder:7b"
REASONER = "qwen3:14b"
EMBEDDER = "qwen3-embedding:4b"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest_asyncio.fixture
async def sdk(fleet: SimFleet) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fleet.host("local").url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def _events(text: str) -> list[str]:
    assert text.endswith("\n\n")
    return text[:-2].split("\n\n")


async def test_chat_with_the_sdk_matches_the_native_answer(sdk: openai.AsyncOpenAI, fleet: SimFleet) -> None:
    reply = await sdk.chat.completions.create(model=CODER, messages=HELLO, max_tokens=5)
    assert reply.object == "chat.completion" and reply.model == CODER and reply.system_fingerprint == "fp_ollama"
    assert reply.id.startswith("chatcmpl-") and 0 <= int(reply.id.split("-")[1]) < 999
    choice = reply.choices[0]
    assert choice.finish_reason == "length" and choice.message.role == "assistant"
    assert choice.message.content == fleet.host("local").chat_answer(CODER, ["hello there"], num_predict=5)
    assert reply.usage is not None and reply.usage.completion_tokens == 5 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 5
    assert reply.usage.prompt_tokens_details is None and reply.usage.completion_tokens_details is None


async def test_max_completion_tokens_is_ignored_as_ollama_ignores_it(fleet: SimFleet) -> None:
    body = {"model": CODER, "messages": HELLO, "max_completion_tokens": 2}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        reply = (await http.post("/v1/chat/completions", json=body)).json()
    assert reply["choices"][0]["finish_reason"] == "stop" and reply["usage"]["completion_tokens"] > 2


async def test_streamed_chat_chunk_sequence_with_usage(fleet: SimFleet) -> None:
    body = {"model": CODER, "messages": HELLO, "stream": True, "max_tokens": 3, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    events = _events(response.text)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert len({chunk["id"] for chunk in chunks}) == 1 and len({chunk["created"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}  # the role alone, then the text
    assert all("role" not in chunk["choices"][0]["delta"] and chunk["choices"][0]["delta"]["content"] for chunk in chunks[1:-2])
    assert all("usage" not in chunk for chunk in chunks[:-1])  # omitted, not null
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks[:-2])
    assert text == fleet.host("local").chat_answer(CODER, ["hello there"], num_predict=3)


async def test_streamed_chat_without_usage_has_no_usage_chunk(sdk: openai.AsyncOpenAI) -> None:
    stream = await sdk.chat.completions.create(model=CODER, messages=HELLO, max_tokens=3, stream=True)
    chunks = [chunk async for chunk in stream]
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "length"
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


async def test_reasoning_comes_back_as_reasoning(fleet: SimFleet) -> None:
    body = {"model": REASONER, "messages": HELLO, "reasoning_effort": "high", "max_tokens": 200}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        message = (await http.post("/v1/chat/completions", json=body)).json()["choices"][0]["message"]
        streamed = (await http.post("/v1/chat/completions", json=body | {"stream": True})).text
    assert message["reasoning"] and "reasoning_content" not in message
    deltas = [json.loads(event.removeprefix("data: "))["choices"] for event in _events(streamed)[:-1]]
    assert "".join(choices[0]["delta"].get("reasoning", "") for choices in deltas if choices) == message["reasoning"]
    assert "reasoning_content" not in streamed


async def test_completions_stream_carries_zeroed_usage_until_the_totals(fleet: SimFleet) -> None:
    body = {"model": CODER, "prompt": "def add(a, b):", "stream": True, "max_tokens": 3, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        events = _events((await http.post("/v1/completions", json=body)).text)
        whole = (await http.post("/v1/completions", json=body | {"stream": False})).json()
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert events[-1] == "data: [DONE]"
    assert list(chunks[0]) == ["id", "object", "created", "choices", "model", "system_fingerprint", "usage"]
    assert all(chunk["usage"]["total_tokens"] == 0 for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert whole["object"] == "text_completion" and whole["id"].startswith("cmpl-")
    assert whole["choices"][0]["text"] == "".join(chunk["choices"][0]["text"] for chunk in chunks[:-1])


async def test_errors_in_openai_envelope_with_native_status(fleet: SimFleet) -> None:
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        missing = await http.post("/v1/chat/completions", json={"model": "nope:1b", "messages": HELLO})
        empty = await http.post("/v1/chat/completions", json={"model": CODER, "messages": []})
        fleet.host("local").set_fault(CODER, Fault(busy_burst=1))
        busy = await http.post("/v1/chat/completions", json={"model": CODER, "messages": HELLO})
        bad_input = await http.post("/v1/embeddings", json={"model": EMBEDDER, "input": []})
        bad_format = await http.post("/v1/embeddings", json={"model": EMBEDDER, "input": "x", "encoding_format": "hex"})
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "model 'nope:1b' not found", "type": "not_found_error", "param": None, "code": None}}
    assert empty.status_code == 400 and empty.json()["error"]["message"] == "[] is too short - 'messages'"
    assert empty.json()["error"]["type"] == "invalid_request_error"
    assert busy.status_code == 503 and busy.json()["error"]["type"] == "api_error"
    assert (bad_input.status_code, bad_input.json()["error"]["message"]) == (400, "invalid input")
    assert bad_format.status_code == 400 and "Supported values: ['float', 'base64']" in bad_format.json()["error"]["message"]


async def test_failure_mid_stream_ends_without_done(fleet: SimFleet) -> None:
    fleet.host("local").set_fault(CODER, Fault(fail_after_chunks=2))
    body = {"model": CODER, "messages": HELLO, "stream": True, "max_tokens": 20}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200 and '"error"' not in response.text
    assert "[DONE]" not in response.text and '"finish_reason":"' not in response.text


async def test_embeddings_float_and_base64(sdk: openai.AsyncOpenAI, fleet: SimFleet) -> None:
    floats = await sdk.embeddings.create(model=EMBEDDER, input=["one", "two"], encoding_format="float")
    assert [item.index for item in floats.data] == [0, 1] and floats.model == EMBEDDER
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        raw = (await http.post("/v1/embeddings", json={"model": EMBEDDER, "input": "one", "encoding_format": "base64"})).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    vector = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert vector == pytest.approx(floats.data[0].embedding, rel=1e-6)


async def test_models_list_and_one_model(sdk: openai.AsyncOpenAI) -> None:
    listed = await sdk.models.list()
    assert {model.id for model in listed.data} == {CODER, EMBEDDER, REASONER}
    assert all(model.owned_by == "library" and model.object == "model" and model.created > 0 for model in listed.data)
    one = await sdk.models.retrieve(CODER)
    assert one.id == CODER
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("nope:1b")


async def test_no_models_lists_null() -> None:
    async with run_fleet(fleet_with()) as empty, httpx.AsyncClient(base_url=empty.host("local").url) as http:
        assert (await http.get("/v1/models")).json() == {"object": "list", "data": None}


async def test_chat_stream_cancel_frees_the_slot() -> None:
    async with run_fleet(fleet_with(CODER_PROFILE, time_scale=1.0)) as slow:
        host = slow.host("local")
        async with httpx.AsyncClient(base_url=host.url) as http:
            body = {"model": CODER, "messages": HELLO, "stream": True, "max_tokens": 500}
            async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                async for _ in response.aiter_bytes():
                    assert host.state()["models"][CODER]["busy_slots"] == 1
                    break
        await wait_until(lambda: host.state()["models"][CODER]["busy_slots"] == 0, message="the slot to be freed")


async def test_a_load_only_request_still_streams_when_asked(fleet: SimFleet) -> None:
    """The native handler answers one object (nothing to generate); Ollama's writer streams it all the same."""
    body = {"model": CODER, "messages": [{"role": "user", "content": ""}], "stream": True}
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        response = await http.post("/v1/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream" and response.text.endswith("data: [DONE]\n\n")
    assert json.loads(_events(response.text)[0].removeprefix("data: "))["choices"][0]["finish_reason"] == "load"

"""The official openai client, sync and async, against `serve`'s /v1 routes over the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
import pytest_asyncio

from tests.helpers import wait_until
from tests.serve.conftest import Served, busy_slots, serving
from zeta_console.sim import Fault

pytestmark = pytest.mark.asyncio(loop_scope="module")

HELLO = [{"role": "user", "content": "hello, how are you"}]
CODER = "qwen2.5-coder:7b"


def in_flight(served: Served) -> int:
    return sum(endpoint.in_flight for endpoint in served.router.snapshot().endpoints)


@pytest_asyncio.fixture(loop_scope="module")
async def client(served: Served) -> AsyncIterator[openai.AsyncOpenAI]:
    async with async_client(served) as opened:
        yield opened


def async_client(served: Served, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


def sync_client(served: Served) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)


async def test_models_lists_the_virtual_and_real_models_and_retrieves_one(client: openai.AsyncOpenAI, served: Served) -> None:
    listed = [model async for model in client.models.list()]
    names = [model.id for model in listed]
    assert names[:5] == ["zeta:auto", "zeta:simple", "zeta:code", "zeta:reason", "zeta:embed"]
    assert "qwen3:14b" in names and all(model.object == "model" for model in listed)
    one = await asyncio.to_thread(sync_client(served).models.retrieve, "qwen3:14b")
    assert (one.id, one.owned_by) == ("qwen3:14b", "library")
    assert (await client.models.retrieve("zeta:code")).owned_by == "zeta"


async def test_async_chat_streams_role_first_then_text_then_finish_and_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="zeta:auto", messages=HELLO, stream=True, stream_options={"include_usage": True})
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert all(chunk.model == "zeta:auto" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert not any(chunk.choices[0].delta.role for chunk in chunks[1:] if chunk.choices)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    *_, finish, usage = chunks
    assert finish.choices[0].finish_reason == "stop" and finish.choices[0].delta.content is None
    assert usage.choices == [] and usage.usage is not None and usage.usage.completion_tokens > 0
    assert usage.usage.total_tokens == usage.usage.prompt_tokens + usage.usage.completion_tokens


async def test_sync_chat_without_streaming_has_the_answer_usage_and_decision_headers(served: Served) -> None:
    def ask() -> openai.types.chat.ChatCompletion:
        raw = sync_client(served).chat.completions.with_raw_response.create(model="zeta:code", messages=HELLO)
        assert raw.headers["x-zeta-endpoint"] == "coder@local" and raw.headers["x-zeta-model"] == CODER
        return raw.parse()

    reply = await asyncio.to_thread(ask)
    assert reply.model == "zeta:code" and reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens > 0


async def test_both_sdks_get_ollamas_own_v1_answers_relayed(client: openai.AsyncOpenAI, served: Served) -> None:
    """An Ollama host serves /v1 itself: serve relays its answers (its fingerprint, its short ids), renamed."""

    def ask_whole() -> openai.types.chat.ChatCompletion:
        return sync_client(served).chat.completions.create(model="zeta:code", messages=HELLO, max_tokens=5)

    whole = await asyncio.to_thread(ask_whole)
    stream = await client.chat.completions.create(model="zeta:code", messages=HELLO, stream=True, max_tokens=5)
    async with stream:
        chunks = [chunk async for chunk in stream]
    for answer in (whole, *chunks):
        assert answer.system_fingerprint == "fp_ollama" and answer.model == "zeta:code"
        assert 0 <= int(answer.id.split("-")[1]) < 999  # Ollama's chatcmpl-<0..998>
    assert whole.usage is not None and whole.usage.completion_tokens == 5 and chunks[-1].choices[0].finish_reason == "length"


async def test_sync_chat_streams(served: Served) -> None:
    def ask() -> list[str]:
        stream = sync_client(served).chat.completions.create(model="zeta:simple", messages=HELLO, stream=True)
        with stream:
            return [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]

    assert "".join(await asyncio.to_thread(ask))


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
async def test_both_output_limits_are_honoured(client: openai.AsyncOpenAI, field: str) -> None:
    reply = await client.chat.completions.create(model=CODER, messages=HELLO, **{field: 4})
    assert reply.usage is not None and reply.usage.completion_tokens == 4
    assert reply.choices[0].finish_reason == "length"


async def test_reasoning_comes_back_in_the_reasoning_field(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="zeta:reason", messages=HELLO, stream=True, reasoning_effort="low")
    async with stream:
        reasoning = [(chunk.choices[0].delta.model_extra or {}).get("reasoning") async for chunk in stream if chunk.choices]
    assert "simulated reasoning" in "".join(part for part in reasoning if part)
    whole = await client.chat.completions.create(model="zeta:reason", messages=HELLO, reasoning_effort="high")
    assert (whole.choices[0].message.model_extra or {}).get("reasoning")
    plain = await client.chat.completions.create(model="zeta:reason", messages=HELLO, reasoning_effort="none")
    assert not (plain.choices[0].message.model_extra or {}).get("reasoning")


async def test_completions_stream_and_not(client: openai.AsyncOpenAI, served: Served) -> None:
    whole = await client.completions.create(model="zeta:simple", prompt="say hi", max_tokens=6)
    assert whole.object == "text_completion" and whole.model == "zeta:simple" and whole.choices[0].text
    assert whole.usage is not None and whole.usage.completion_tokens == 6 and whole.choices[0].finish_reason == "length"

    def stream() -> list[openai.types.Completion]:
        with sync_client(served).completions.create(model="zeta:simple", prompt="say hi", stream=True) as chunks:
            return list(chunks)

    chunks = await asyncio.to_thread(stream)
    assert "".join(chunk.choices[0].text for chunk in chunks) and chunks[-1].choices[0].finish_reason == "stop"


async def test_embeddings_of_a_batch_as_floats_and_as_base64(client: openai.AsyncOpenAI, served: Served) -> None:
    floats = await client.embeddings.create(model="zeta:embed", input=["one", "two", "three"], encoding_format="float")
    packed = await asyncio.to_thread(sync_client(served).embeddings.create, model="zeta:embed", input=["one", "two", "three"])
    assert [item.index for item in floats.data] == [0, 1, 2] and floats.model == "zeta:embed"
    assert len(floats.data[0].embedding) > 8
    for exact, decoded in zip(floats.data, packed.data, strict=True):  # the SDK asks base64 by default and decodes it
        assert decoded.embedding == pytest.approx(exact.embedding, rel=1e-6, abs=1e-7)
    single = await client.embeddings.create(model="zeta:embed", input="one", encoding_format="float")
    assert len(single.data) == 1 and single.usage.prompt_tokens == single.usage.total_tokens


async def test_an_unknown_model_is_not_found_everywhere(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as chat:
        await client.chat.completions.create(model="no-such-model", messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("no-such-model")
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="no-such-model", input="x", encoding_format="float")
    assert isinstance(chat.value.body, dict) and chat.value.body["type"] == "not_found_error"
    assert chat.value.body["param"] is None and chat.value.body["code"] is None


async def test_client_mistakes_are_bad_requests_in_openais_envelope(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as empty:
        await client.chat.completions.create(model="zeta:auto", messages=[])
    with pytest.raises(openai.BadRequestError) as no_vectors:
        await client.embeddings.create(model="zeta:embed", input=[], encoding_format="float")
    with pytest.raises(openai.BadRequestError) as effort:
        await client.chat.completions.create(model="zeta:reason", messages=HELLO, reasoning_effort="enormous")
    with pytest.raises(openai.BadRequestError) as no_thinking:  # the coder tier cannot think
        await client.chat.completions.create(model=CODER, messages=HELLO, reasoning_effort="high")
    assert isinstance(empty.value.body, dict) and empty.value.body["type"] == "invalid_request_error"
    assert "too short" in empty.value.message and "invalid input" in no_vectors.value.message
    assert "reasoning effort" in effort.value.message and "does not support thinking" in no_thinking.value.message


async def test_a_tool_result_naming_its_call_with_a_non_string_is_a_bad_request(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        response = await http.post("/v1/chat/completions", json={"model": "zeta:code", "messages": [{"role": "tool", "tool_call_id": [1]}]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "invalid tool_call_id: expected a string"


async def test_a_conversation_with_tool_calls_and_results_is_routed(client: openai.AsyncOpenAI, served: Served) -> None:
    weather = {"type": "function", "function": {"name": "weather", "description": "today's weather", "parameters": {"type": "object"}}}
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    messages = [*HELLO, {"role": "assistant", "content": None, "tool_calls": [call]}, result]
    reply = await client.chat.completions.create(model="zeta:code", messages=messages, tools=[weather])
    assert reply.choices[0].message.content
    broken = {**call, "function": {"name": "weather", "arguments": "{not json"}}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="zeta:code", messages=[*HELLO, {"role": "assistant", "tool_calls": [broken]}])
    assert "arguments for weather" in caught.value.message


async def test_cancelling_mid_stream_frees_the_upstream_slot() -> None:
    async with serving(time_scale=20.0) as served, async_client(served) as client:
        stream = await client.chat.completions.create(model=CODER, messages=HELLO, stream=True, max_tokens=2000)
        async with stream:
            first = await anext(aiter(stream))
            assert first.choices[0].delta.role == "assistant"
            assert busy_slots(served.fleet) == 1 and in_flight(served) == 1
        await wait_until(lambda: busy_slots(served.fleet) == 0, message="the emulator's slot to be freed")
        await wait_until(lambda: in_flight(served) == 0, message="the router to forget it")


async def test_a_failure_after_the_first_chunk_is_an_error_event_the_sdk_raises() -> None:
    async with serving() as served:
        served.fleet.host("local").set_fault(CODER, Fault(fail_after_chunks=3))
        async with async_client(served) as client:
            stream = await client.chat.completions.create(model=CODER, messages=HELLO, stream=True)
            received = []
            with pytest.raises(openai.APIError) as caught:
                async with stream:
                    async for chunk in stream:
                        received.append(chunk)
    assert len(received) == 4 and not any(chunk.choices and chunk.choices[0].finish_reason for chunk in received)  # role, 3 texts
    assert not isinstance(caught.value, openai.APIStatusError)


async def test_a_busy_upstream_is_503_with_retry_after_in_openais_envelope() -> None:
    async with serving() as served:
        served.fleet.host("local").set_fault(CODER, Fault(busy_burst=100))
        async with async_client(served) as client:
            with pytest.raises(openai.InternalServerError) as caught:
                await client.chat.completions.create(model=CODER, messages=HELLO)
    assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "1"
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "api_error"


async def test_with_a_token_the_sdk_key_is_the_token() -> None:
    async with serving(token="s3cret") as served:
        async with async_client(served, "s3cret") as client:
            assert [model.id async for model in client.models.list()][0] == "zeta:auto"
        async with async_client(served, "wrong") as client:
            with pytest.raises(openai.AuthenticationError) as caught:
                await client.models.list()
    assert isinstance(caught.value.body, dict) and caught.value.body["message"] == "unauthorized"

"""The `api: openai` backend on its own: against a real llama.cpp server (what it answers, what
it reports, its errors), and against a scripted HTTP server for what a tiny real model does not do
on demand (reasoning deltas, tool calls, 429s, error events, cut streams). Real HTTP on loopback."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.backends.scripted_openai import Events, Hangup, ScriptedServer, Stall, Status, chunk
from tests.llama_fleet import LlamaServers
from zeta_console.backends.openai import OpenAIBackend
from zeta_console.backends.types import BackendError, Delta, ErrorKind, QueueSignals
from zeta_console.settings import HostConfig, Timeouts

COUNTING = "1, 2, 3, 4, 5, 6, 7, 8,"


def backend_at(url: str, **host: object) -> OpenAIBackend:
    return OpenAIBackend(HostConfig("h", url, api="openai", **host), Timeouts())  # type: ignore[arg-type]  # forwarded keywords


async def read_all(stream: AsyncIterator[Delta]) -> list[Delta]:
    return [delta async for delta in stream]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as server:
        yield server


# -- against a real llama.cpp server ------------------------------------------------------------


async def test_a_real_chat_streams_text_and_ends_with_llama_cpp_timings(llama_servers: LlamaServers) -> None:
    backend = backend_at(llama_servers.shared("coder").url)
    messages = [{"role": "user", "content": "Tell me a story about a cat"}]
    for _ in range(2):  # the second time the prompt comes from the server's cache
        deltas = await read_all(await backend.chat("coder", messages, options={"num_predict": 5, "temperature": 0}))
    assert "".join(delta.content for delta in deltas).strip()
    assert [delta.final is not None for delta in deltas] == [False] * (len(deltas) - 1) + [True]
    assert all(delta.content for delta in deltas[:-1])  # the role-only first chunk is not handed out
    final = deltas[-1].final
    assert final is not None and final.done_reason == "length" and final.output_tokens == 5
    assert final.prompt_tokens and final.cached_prompt_tokens and 0 < final.cached_prompt_tokens < final.prompt_tokens
    assert final.prefill_s and final.decode_s and final.decode_tps and final.prefill_s_per_token
    await backend.aclose()


async def test_raw_generation_continues_the_text_and_stop_ends_it(llama_servers: LlamaServers) -> None:
    backend = backend_at(llama_servers.shared("coder").url)
    options = {"num_predict": 40, "temperature": 0, "stop": [" 12"]}
    deltas = await read_all(await backend.generate("coder", COUNTING, raw=True, options=options))
    assert "".join(delta.content for delta in deltas) == " 9, 10, 11,"
    assert deltas[-1].final is not None and deltas[-1].final.done_reason == "stop"
    templated = await read_all(await backend.generate("coder", "Say hi", system="Answer in one word.", options={"num_predict": 4}))
    assert "".join(delta.content for delta in templated).strip()
    await backend.aclose()


async def test_a_real_embedding_server_embeds_and_a_chat_server_refuses(llama_servers: LlamaServers) -> None:
    embedder = backend_at(llama_servers.shared("embedder", embedding=True).url)
    reply = await embedder.embed("embedder", ["one", "two"])
    assert [len(vector) for vector in reply.embeddings] == [576, 576]
    assert all(isinstance(value, float) for value in reply.embeddings[0])
    assert reply.timings.prompt_tokens and reply.timings.total_s
    with pytest.raises(BackendError) as refused:
        await backend_at(llama_servers.shared("coder").url).embed("coder", "one")
    assert refused.value.kind is ErrorKind.SERVER_ERROR and refused.value.status == 501 and "embeddings" in refused.value.message


async def test_a_real_server_reports_its_name_models_and_capabilities(llama_servers: LlamaServers) -> None:
    backend = backend_at(llama_servers.shared("coder").url)
    assert await backend.version() == "llama.cpp"
    assert [model.name for model in await backend.installed()] == ["coder"]
    assert [model.model for model in await backend.loaded()] == ["coder"]
    facts = await backend.show("coder")
    assert facts.capabilities == frozenset() and facts.parameter_size == "135M"  # SmolLM2's template takes no tools
    assert await backend.queue_signals() == QueueSignals(server="llama.cpp", running=0, waiting=0, slots=1)  # its own gauges


async def test_a_stream_does_no_io_until_its_first_delta_and_a_dead_port_is_unavailable() -> None:
    backend = backend_at(f"http://127.0.0.1:{free_port()}")
    stream = await backend.chat("m", [{"role": "user", "content": "hi"}])  # nothing is sent yet: no error here
    with pytest.raises(BackendError) as refused:
        await anext(stream)
    assert refused.value.kind is ErrorKind.UNAVAILABLE and refused.value.message == "connection refused"
    with pytest.raises(BackendError) as probe:
        await backend.version()
    assert probe.value.kind is ErrorKind.UNAVAILABLE


async def test_an_unknown_route_is_not_found(llama_servers: LlamaServers) -> None:
    # llama.cpp's single-model mode answers any `model`; a wrong path is its 404.
    backend = backend_at(llama_servers.shared("coder").url + "/not-here")
    with pytest.raises(BackendError) as missing:
        await anext(await backend.chat("coder", [{"role": "user", "content": "hi"}]))
    assert missing.value.kind is ErrorKind.NOT_FOUND and missing.value.status == 404


# -- against the scripted server --------------------------------------------------------------


async def test_reasoning_deltas_become_thinking_and_tool_call_fragments_one_parsed_call(scripted: ScriptedServer) -> None:
    call_start = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"ci'}}]}
    call_rest = {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}
    scripted.replies["m"] = Events([
        chunk({"role": "assistant", "content": None}),
        chunk({"reasoning_content": "llama.cpp thinks"}),
        chunk({"reasoning": "vLLM thinks"}),
        chunk(call_start), chunk(call_rest),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}),
    ])
    deltas = await read_all(await backend_at(scripted.url).chat("m", [{"role": "user", "content": "weather?"}]))
    assert [delta.thinking for delta in deltas[:-1]] == ["llama.cpp thinks", "vLLM thinks"]
    final = deltas[-1]
    assert [(call.name, call.arguments) for call in final.tool_calls] == [("weather", {"city": "Oslo"})]
    assert final.final is not None and final.final.done_reason == "tool_calls"
    assert (final.final.prompt_tokens, final.final.output_tokens, final.final.prefill_s) == (9, 12, None)


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, ErrorKind.BUSY, "Loading model"),
        (429, {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": None}}, ErrorKind.BUSY,
         "Rate limit reached"),
        (404, {"error": {"message": "The model `m` does not exist.", "type": "NotFoundError", "code": 404}}, ErrorKind.NOT_FOUND,
         "The model `m` does not exist."),
        (400, {"error": {"code": 400, "message": "context too long", "type": "exceed_context_size_error"}}, ErrorKind.BAD_REQUEST,
         "context too long"),
        (401, {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}, ErrorKind.BAD_REQUEST,
         "Invalid API Key"),
        (500, "Internal Server Error", ErrorKind.SERVER_ERROR, "Internal Server Error"),
        (502, {"object": "error", "message": "upstream died", "code": 502}, ErrorKind.SERVER_ERROR, "upstream died"),
    ],
)
async def test_error_statuses_map_to_their_kind_with_the_servers_words(
    scripted: ScriptedServer, status: int, body: object, kind: ErrorKind, message: str
) -> None:
    scripted.replies["m"] = Status(status, body)
    with pytest.raises(BackendError) as raised:
        await anext(await backend_at(scripted.url).chat("m", [{"role": "user", "content": "hi"}]))
    assert (raised.value.kind, raised.value.status, raised.value.message) == (kind, status, message)
    assert len(scripted.requests) == 1  # the client's own retries are off: the router owns retries


async def test_failures_inside_a_stream_are_cut_answers_once_a_delta_was_handed_out(scripted: ScriptedServer) -> None:
    text = chunk({"content": "Hel"})
    scripted.replies |= {
        "cut-early": Events([chunk({"role": "assistant"})], end="cut"),
        "cut-late": Events([text], end="cut"),
        "eof-late": Events([text], end="eof"),  # a clean end of the body, but no finish reason
        "error-early": Events([{"error": {"code": 503, "message": "no slot", "type": "unavailable_error"}}]),
        "error-late": Events([text, {"error": {"code": 500, "message": "decode failed", "type": "server_error"}}]),
        "garbage-early": Events(["not a chunk"]),
    }
    backend = backend_at(scripted.url)
    outcomes = {}
    for model in scripted.replies:
        stream = await backend.chat(model, [{"role": "user", "content": "hi"}])
        received: list[str] = []
        with pytest.raises(BackendError) as raised:
            async for delta in stream:
                received.append(delta.content)
        outcomes[model] = (raised.value.kind, received)
        if model == "cut-late":  # the cause, not the client's "Connection error."
            assert raised.value.message.startswith("peer closed connection without sending complete message body")
    assert outcomes == {
        "cut-early": (ErrorKind.UNAVAILABLE, []),
        "cut-late": (ErrorKind.FAILED_MID_STREAM, ["Hel"]),
        "eof-late": (ErrorKind.FAILED_MID_STREAM, ["Hel"]),
        "error-early": (ErrorKind.BUSY, []),
        "error-late": (ErrorKind.FAILED_MID_STREAM, ["Hel"]),
        "garbage-early": (ErrorKind.SERVER_ERROR, []),
    }


async def test_a_silent_server_times_out(scripted: ScriptedServer) -> None:
    scripted.replies["m"] = Stall()
    backend = OpenAIBackend(HostConfig("h", scripted.url, api="openai"), Timeouts(total_s=0.2))
    with pytest.raises(BackendError) as raised:
        await anext(await backend.chat("m", [{"role": "user", "content": "hi"}]))
    assert raised.value.kind is ErrorKind.TIMED_OUT


async def test_ollama_fields_are_sent_as_openai_ones(scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZETA_TEST_KEY", "sk-test-123")
    scripted.replies["m"] = Events([chunk({"content": "ok"}, "stop")])
    backend = backend_at(scripted.url, api_key_env="ZETA_TEST_KEY")
    options = {"num_predict": 7, "temperature": 0.2, "top_p": 0.9, "seed": 3, "stop": ["\n"], "top_k": 20, "num_ctx": 4096}
    image = b"\xff\xd8\xff\xe0 a jpeg"
    calls = [{"function": {"name": "f", "arguments": {"a": 1}}}, {"function": {"name": "g", "arguments": {}}}]
    messages = [
        {"role": "user", "content": "look", "images": [image]},
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "tool", "content": "from g", "tool_name": "g"},
        {"role": "tool", "content": "from f"},
    ]
    await read_all(await backend.chat("m", messages, options=options, format={"type": "object"}, think="low", keep_alive="5m"))
    await read_all(await backend.chat("m", [{"role": "user", "content": "hi"}], format="json", think=False, options={"num_predict": -1}))
    sent, plain = scripted.requests
    assert scripted.authorizations == ["Bearer sk-test-123"] * 2
    assert {key: sent[key] for key in ("max_tokens", "temperature", "top_p", "seed", "stop", "top_k")} == {
        "max_tokens": 7, "temperature": 0.2, "top_p": 0.9, "seed": 3, "stop": ["\n"], "top_k": 20,
    }
    assert "num_ctx" not in sent and "keep_alive" not in sent and sent["stream_options"] == {"include_usage": True}
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}}
    assert sent["reasoning_effort"] == "low"
    data_uri = f"data:image/jpeg;base64,{base64.b64encode(image).decode()}"
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": data_uri}}]
    sent_calls = sent["messages"][1]["tool_calls"]
    assert [call["function"] for call in sent_calls] == [{"name": "f", "arguments": '{"a": 1}'}, {"name": "g", "arguments": "{}"}]
    # each result answers its own call: g's by its tool_name, then f's, the one still open
    assert [message["tool_call_id"] for message in sent["messages"][2:]] == [sent_calls[1]["id"], sent_calls[0]["id"]]
    assert plain["response_format"] == {"type": "json_object"} and plain["chat_template_kwargs"] == {"enable_thinking": False}
    assert "max_tokens" not in plain  # -1 is Ollama's "no limit", OpenAI's default


async def test_without_a_key_variable_a_placeholder_key_is_sent(scripted: ScriptedServer) -> None:
    scripted.replies["m"] = Events([chunk({"content": "ok"}, "stop")])
    await read_all(await backend_at(scripted.url, api_key_env="ZETA_UNSET_VARIABLE").chat("m", [{"role": "user", "content": "hi"}]))
    assert scripted.authorizations == ["Bearer no-key"]


async def test_llama_cpp_props_add_tools_and_vision_and_other_servers_do_not_say(scripted: ScriptedServer) -> None:
    scripted.replies["/v1/models"] = Status(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "llamacpp"}]})
    scripted.replies["/props"] = Status(200, {"chat_template_caps": {"supports_tools": True}, "modalities": {"vision": True}})
    assert await backend_at(scripted.url).capabilities("m") == frozenset({"tools", "vision"})
    async with ScriptedServer() as vllm:
        listing = {"object": "list", "data": [{"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm"}]}
        vllm.replies["/v1/models"] = Status(200, listing)
        backend = backend_at(vllm.url)
        assert await backend.version() == "vLLM"
        assert await backend.capabilities("Qwen/Qwen3-8B") is None
        assert [model.name for model in await backend.installed()] == ["Qwen/Qwen3-8B"]
    assert vllm.paths == ["/v1/models"]  # read once for all three questions; /props is llama.cpp's only


async def test_aliases_count_as_names_and_router_mode_models_not_loaded_are_not_resident(scripted: ScriptedServer) -> None:
    scripted.replies["/v1/models"] = Status(200, {"object": "list", "data": [
        {"id": "qwen", "aliases": ["qwen", "coder"], "owned_by": "llamacpp", "meta": {"n_params": 7_615_616_512}},
        {"id": "gemma", "owned_by": "llamacpp", "status": {"value": "unloaded"}},
    ]})
    scripted.replies["/props"] = Status(400, {"error": {"code": 400, "message": "model name is missing", "type": "invalid_request_error"}})
    backend = backend_at(scripted.url)
    assert [model.name for model in await backend.installed()] == ["qwen", "coder", "gemma"]
    assert [model.model for model in await backend.loaded()] == ["qwen", "coder"]
    facts = await backend.show("coder")
    assert facts.parameter_size == "7.62B" and facts.capabilities is None  # router mode's /props wants ?model=


async def test_a_connection_closed_without_any_answer_is_sent_once_more(scripted: ScriptedServer) -> None:
    listing = Status(200, {"object": "list", "data": [{"id": "m", "owned_by": "vllm"}]})
    scripted.replies |= {
        "once": [Hangup(), Events([chunk({"content": "ok"}, "stop")])],
        "always": [Hangup(), Hangup()],
        "embed": [Hangup(), Status(200, {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}]})],
        "/v1/models": [Hangup(), listing],
    }
    backend = backend_at(scripted.url)
    deltas = await read_all(await backend.chat("once", [{"role": "user", "content": "hi"}]))
    assert deltas[0].content == "ok"
    assert (await backend.embed("embed", "x")).embeddings == [[0.5]]
    assert await backend.version() == "vLLM"
    with pytest.raises(BackendError) as raised:  # twice: the server is really refusing, and says so
        await anext(await backend.chat("always", [{"role": "user", "content": "hi"}]))
    assert raised.value.kind is ErrorKind.UNAVAILABLE and raised.value.message == "Server disconnected without sending a response."
    assert scripted.paths.count("/v1/chat/completions") == 4 and scripted.paths.count("/v1/embeddings") == 2

"""serve writes OpenAI's replies from neutral deltas: each event and object validates as the openai
SDK's own model, tool calls carry their arguments as JSON text, the finish reason says why it ended."""

from __future__ import annotations

import json
from dataclasses import replace

from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from zeta_console.backends.types import Delta, FinalTimings, ToolCall
from zeta_console.serve.openai_dialect import OpenAIWire

FINAL = FinalTimings(total_s=1.0, load_s=None, prompt_tokens=12, prefill_s=None, output_tokens=3, decode_s=None, done_reason="stop")
CALL = ToolCall("weather", {"city": "Oslo <&>", "days": 2})


def events(stream: bytes) -> list[str]:
    assert stream.endswith(b"\n\n")
    return [event.removeprefix("data: ") for event in stream.decode().split("\n\n") if event]


def test_a_streamed_tool_call_has_index_id_json_arguments_and_finishes_as_tool_calls() -> None:
    wire = OpenAIWire("zeta:code", chat=True, include_usage=True)
    stream = b"".join(wire.chunk(delta) for delta in (Delta(content="let me look"), Delta(tool_calls=(CALL,), final=FINAL))) + wire.end()
    *chunks, done = events(stream)
    assert done == "[DONE]"
    parsed = [ChatCompletionChunk.model_validate_json(chunk) for chunk in chunks]
    first, call, finish, usage = parsed
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == "let me look"
    (tool_call,) = call.choices[0].delta.tool_calls or []
    assert (tool_call.index, tool_call.type) == (0, "function") and tool_call.id and tool_call.id.startswith("call_")
    assert tool_call.function and json.loads(tool_call.function.arguments or "") == {"city": "Oslo <&>", "days": 2}
    assert finish.choices[0].finish_reason == "tool_calls" and finish.choices[0].delta.content is None
    assert usage.choices == [] and usage.usage and (usage.usage.prompt_tokens, usage.usage.completion_tokens) == (12, 3)
    assert {chunk.id for chunk in parsed} == {first.id} and all(chunk.model == "zeta:code" for chunk in parsed)


def test_without_include_usage_no_usage_chunk_and_a_length_stop_says_length() -> None:
    wire = OpenAIWire("m", chat=True)
    chunks = events(wire.chunk(Delta(content="a")) + wire.chunk(Delta(content="b", final=replace(FINAL, done_reason="length"))))
    parsed = [ChatCompletionChunk.model_validate_json(chunk) for chunk in chunks]
    assert [chunk.choices[0].finish_reason for chunk in parsed] == [None, None, "length"]
    assert all(chunk.usage is None for chunk in parsed)


def test_an_aggregated_chat_reply_merges_text_reasoning_and_tool_calls() -> None:
    wire = OpenAIWire("zeta:reason", chat=True)
    for delta in (Delta(thinking="hm"), Delta(thinking="m", content="x"), Delta(tool_calls=(CALL,)), Delta(content="y", final=FINAL)):
        wire.add(delta)
    reply = ChatCompletion.model_validate_json(wire.reply())
    message = reply.choices[0].message
    assert (message.content, (message.model_extra or {})["reasoning"]) == ("xy", "hmm")
    assert message.tool_calls and message.tool_calls[0].function.name == "weather"  # type: ignore[union-attr]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.usage and reply.usage.total_tokens == 15 and reply.model == "zeta:reason"


def test_a_text_completion_streams_text_and_aggregates_it() -> None:
    streamed = OpenAIWire("zeta:simple", chat=False)
    chunks = events(streamed.chunk(Delta(content="hi")) + streamed.chunk(Delta(content=" there", final=FINAL)))
    parsed = [json.loads(chunk) for chunk in chunks]  # the SDK's Completion wants a finish_reason; streams send null until the end
    assert [chunk["choices"][0]["text"] for chunk in parsed] == ["hi", " there", ""]
    assert [chunk["choices"][0]["finish_reason"] for chunk in parsed] == [None, None, "stop"]
    assert {chunk["object"] for chunk in parsed} == {"text_completion"}
    whole = OpenAIWire("zeta:simple", chat=False)
    for delta in (Delta(content="hi"), Delta(content=" there", final=FINAL)):
        whole.add(delta)
    reply = Completion.model_validate_json(whole.reply())
    assert reply.choices[0].text == "hi there" and reply.usage and reply.usage.completion_tokens == 3

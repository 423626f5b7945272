"""serve writes Ollama's reply lines from neutral deltas with the same bytes the ollama client's own
models give (what `serve` sent before the backend seam), `created_at` aside."""

from __future__ import annotations

import json
import re

import ollama

from zeta_console.backends.types import Delta, Embeddings, FinalTimings, ToolCall
from zeta_console.serve.replies import HEADER_VALUE_LIMIT, OllamaWire, Shape, embed_json, header_safe, ndjson_line

FINAL = FinalTimings(total_s=1.25, load_s=0.000_123_456, prompt_tokens=12, prefill_s=0.2, output_tokens=3, decode_s=0.9, done_reason="stop")
STATS = {
    "done_reason": "stop", "total_duration": 1_250_000_000, "load_duration": 123_456, "prompt_eval_count": 12,
    "prompt_eval_duration": 200_000_000, "eval_count": 3, "eval_duration": 900_000_000,
}  # fmt: skip
CALL = ToolCall("weather", {"city": "Oslo <&>", "days": 2})


def without_created_at(line: bytes) -> bytes:
    """The line with its timestamp (serve's own moment, UTC) blanked."""
    assert re.search(rb'"created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"', line)
    return re.sub(rb'"created_at":"[^"]*"', b'"created_at":""', line.removesuffix(b"\n"))


def client_bytes(reply: ollama.ChatResponse | ollama.GenerateResponse) -> bytes:
    return reply.model_dump_json(exclude_none=True).encode()


def test_chat_lines_are_the_client_models_bytes() -> None:
    thinking = ndjson_line(Delta(thinking="hmm"), "zeta:auto", Shape.CHAT)
    assert thinking.endswith(b"}\n")
    message = ollama.Message(role="assistant", content="", thinking="hmm")
    expected = ollama.ChatResponse(model="zeta:auto", created_at="", done=False, message=message)
    assert without_created_at(thinking) == client_bytes(expected)
    last = ndjson_line(Delta(content="é", tool_calls=(CALL,), final=FINAL), "zeta:auto", Shape.CHAT)
    call = ollama.Message.ToolCall(function=ollama.Message.ToolCall.Function(name="weather", arguments={"city": "Oslo <&>", "days": 2}))
    message = ollama.Message(role="assistant", content="é", tool_calls=[call])
    expected = ollama.ChatResponse(model="zeta:auto", created_at="", done=True, **STATS, message=message)
    assert without_created_at(last) == client_bytes(expected)


def test_a_reply_without_streaming_merges_text_thinking_and_tool_calls() -> None:
    reply = OllamaWire("zeta:code", Shape.CHAT)
    for delta in (Delta(thinking="a"), Delta(thinking="b", content="x"), Delta(tool_calls=(CALL,)), Delta(content="y", final=FINAL)):
        reply.add(delta)
    merged = json.loads(reply.reply())
    calls = [{"function": {"name": "weather", "arguments": dict(CALL.arguments)}}]
    assert merged["message"] == {"role": "assistant", "content": "xy", "thinking": "ab", "tool_calls": calls}
    assert merged["done"] is True and {name: merged[name] for name in STATS} == STATS


def test_generate_lines_carry_the_text_in_response() -> None:
    line = ndjson_line(Delta(content="hi", thinking="t", final=FINAL), "zeta:simple", Shape.GENERATE)
    expected = ollama.GenerateResponse(model="zeta:simple", created_at="", done=True, **STATS, response="hi", thinking="t")
    assert without_created_at(line) == client_bytes(expected)


def test_an_embedding_reply_is_the_client_models_bytes() -> None:
    timings = FinalTimings(total_s=0.5, load_s=0.01, prompt_tokens=4, prefill_s=None, output_tokens=None, decode_s=None)
    vectors = [[0.1, -2e-05], [1.0, 0.0]]
    reply = embed_json(Embeddings(vectors, timings), "zeta:embed")
    stats = {"total_duration": 500_000_000, "load_duration": 10_000_000, "prompt_eval_count": 4}
    expected = ollama.EmbedResponse(model="zeta:embed", **stats, embeddings=vectors)
    assert reply == expected.model_dump_json(exclude_none=True).encode()


def test_a_header_value_keeps_printable_ascii_and_blanks_anything_else() -> None:
    assert header_safe("pinned: code (qwen2.5-coder:7b) ~ 0.01 s") == "pinned: code (qwen2.5-coder:7b) ~ 0.01 s"
    assert header_safe("tab\there\r\nnew line\x7fdel") == "tab here new line del"
    assert header_safe("  caf\u00e9 \u4e2d\u6587 ok ") == "caf    ok"
    assert header_safe("x" * (HEADER_VALUE_LIMIT + 10)) == "x" * HEADER_VALUE_LIMIT

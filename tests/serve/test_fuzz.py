"""Property: whatever a client sends, the endpoint answers below 500 and stays up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serve.conftest import Served

pytestmark = pytest.mark.asyncio(loop_scope="module")

POST_PATHS = ["/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/show"]
MODELS = ["zeta:auto", "zeta:simple", "zeta:code", "zeta:reason", "zeta:embed", "qwen2.5-coder:7b", "qwen3:14b", "qwen3-embedding:4b"]
FIELDS = [
    "model", "messages", "prompt", "input", "stream", "think", "format", "keep_alive", "options", "tools", "system",
    "suffix", "images", "raw", "template", "context", "dimensions", "truncate", "top_logprobs", "name", "verbose",
]  # fmt: skip
OPTION_KEYS = ["num_ctx", "num_predict", "temperature", "top_k", "top_p", "seed", "stop", "use_mmap", "unknown"]

# Small numbers: the point is the decoding and validation, not asking a model for a billion tokens.
scalars = st.none() | st.booleans() | st.integers(-3, 40) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8
)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["user", "system", "assistant", "tool", ""]) | json_values,
            "content": st.text(max_size=30) | json_values,
            "images": json_values,
            "tool_calls": json_values,
        },
    ),
    max_size=3,
)
field_values: dict[str, Any] = {
    "model": st.sampled_from(MODELS) | st.text(max_size=12) | json_values,
    "messages": messages | json_values,
    "stream": st.booleans() | json_values,
    "options": st.dictionaries(st.sampled_from(OPTION_KEYS), scalars, max_size=3) | json_values,
    "keep_alive": st.sampled_from(["5m", "0", "-1", "1h30m", "300", "x"]) | json_values,
    "think": st.sampled_from([True, False, "low", "high", "max", "ultra"]) | json_values,
}
bodies = st.fixed_dictionaries({}, optional={name: field_values.get(name, json_values) for name in FIELDS})
raw_bodies = st.one_of(
    bodies.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    bodies.map(lambda body: json.dumps(body).encode()[: len(json.dumps(body)) // 2]),
)
header_names = st.sampled_from(["content-type", "accept", "user-agent", "authorization", "x-anything", "accept-encoding", "host"])
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)  # h11 refuses padded values
headers = st.dictionaries(header_names, header_values, max_size=4)


@pytest_asyncio.fixture(loop_scope="module")
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(POST_PATHS), body=raw_bodies, extra_headers=headers)
async def test_any_request_gets_an_answer_below_500(http: httpx.AsyncClient, path: str, body: bytes, extra_headers: dict[str, str]) -> None:
    response = await http.post(path, content=body, headers=extra_headers)
    await response.aread()
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400 and response.status_code != 403:  # 403 (foreign Host) has an empty body, as in Ollama
        assert "error" in response.json()
    alive = await http.get("/")
    assert alive.status_code == 200


# OpenAI's /v1 bodies: its own field names, content parts, tool calls, stream options.
V1_POST_PATHS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
V1_FIELDS = [
    "model", "messages", "prompt", "suffix", "input", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty", "response_format", "tools",
    "reasoning_effort", "reasoning", "encoding_format", "dimensions", "n", "user",
]  # fmt: skip


def mostly(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The typed value three times in four, else any JSON value: a wrong type stops a message early."""
    return st.one_of(typed, typed, typed, json_values)


content_parts = st.lists(
    st.fixed_dictionaries(
        {"type": mostly(st.sampled_from(["text", "image_url", "input_audio", ""]))},
        optional={
            "text": mostly(st.text(max_size=12)),
            "image_url": mostly(
                st.fixed_dictionaries(
                    {"url": st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "data:;base64,@@", "https://x/y.png"])}
                )
            ),
        },
    ),
    max_size=3,
)
tool_calls = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": mostly(st.sampled_from(["call_1", "call_2", ""])),
            "type": mostly(st.just("function")),
            "function": st.fixed_dictionaries(
                {},
                optional={
                    "name": mostly(st.sampled_from(["weather", "search", ""])),
                    "arguments": mostly(st.sampled_from(["{}", '{"a":1}', "{not", "[]"])),
                },
            ),
        },
    ),
    max_size=2,
)
v1_messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": mostly(st.sampled_from(["user", "system", "developer", "assistant", "tool", ""])),
            "content": mostly(st.none() | st.text(max_size=30) | content_parts),
            "tool_calls": mostly(tool_calls),
            "tool_call_id": st.sampled_from(["call_1", "call_2", ""]) | json_values,
            "name": mostly(st.sampled_from(["weather", ""])),
            "reasoning": mostly(st.text(max_size=8)),
        },
    ),
    max_size=3,
)
numbers = st.integers(-3, 40) | st.floats(-2, 2, allow_nan=False)
texts = st.text(max_size=12)
tools = st.lists(
    st.fixed_dictionaries(
        {"type": st.just("function")},
        optional={"function": st.fixed_dictionaries({"name": texts}, optional={"parameters": st.just({"type": "object"}) | json_values})},
    ),
    max_size=2,
)
# Well-typed values (the decoder answers a wrong type before anything else looks at the body); a
# body then has at most one field replaced by any JSON value.
v1_values: dict[str, Any] = {
    "model": st.sampled_from(MODELS) | texts,
    "messages": v1_messages,
    "prompt": texts,
    "suffix": texts,
    "input": texts | st.lists(st.text(max_size=8), max_size=3),
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans() | json_values}),
    "max_tokens": st.integers(-3, 40),
    "max_completion_tokens": st.integers(-3, 40),
    "temperature": numbers,
    "top_p": numbers,
    "seed": st.integers(-3, 2**40),
    "stop": texts | st.lists(texts, max_size=3),
    "frequency_penalty": numbers,
    "presence_penalty": numbers,
    "response_format": st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "json_object", "json_schema", "yaml"]) | json_values},
        optional={"json_schema": st.fixed_dictionaries({}, optional={"schema": json_values})},
    ),
    "tools": tools,
    "reasoning_effort": st.sampled_from(["none", "minimal", "low", "high", "xhigh", "huge"]),
    "reasoning": st.fixed_dictionaries({}, optional={"effort": st.sampled_from(["low", "max", "odd"]) | json_values}),
    "encoding_format": st.sampled_from(["float", "base64", "int8"]),
    "dimensions": st.integers(-2, 8),
    "n": st.integers(0, 3),
    "user": texts,
}


def with_one_wrong(body: dict[str, Any], wrong: tuple[str, Any] | None) -> dict[str, Any]:
    return body if wrong is None else {**body, wrong[0]: wrong[1]}


v1_bodies = st.builds(
    with_one_wrong,
    st.fixed_dictionaries({}, optional={name: v1_values[name] for name in V1_FIELDS}),
    st.none() | st.tuples(st.sampled_from(V1_FIELDS), json_values),
)
v1_json_bodies = v1_bodies.map(lambda body: json.dumps(body).encode())
v1_raw_bodies = st.one_of(v1_json_bodies, v1_json_bodies, v1_json_bodies, raw_bodies)  # mostly bodies a client could mean


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(V1_POST_PATHS), body=v1_raw_bodies, extra_headers=headers)
async def test_any_openai_request_gets_an_answer_below_500_in_openais_envelope(
    http: httpx.AsyncClient, path: str, body: bytes, extra_headers: dict[str, str]
) -> None:
    response = await http.post(path, content=body, headers=extra_headers)
    await response.aread()
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code >= 400 and response.status_code != 403:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], (path, body, response.text)
    elif response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream"):
        assert response.text.endswith("data: [DONE]\n\n"), (path, body, response.text)
    alive = await http.get("/v1/models")
    assert alive.status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%"), max_size=24))
async def test_any_model_id_is_found_or_not_found(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"/v1/models/{name}")
    assert response.status_code in (200, 404), (name, response.text)

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

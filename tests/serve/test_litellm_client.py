"""LiteLLM's `openai/` provider (what LiteLLM users point at any OpenAI-compatible server) against serve's /v1."""

from __future__ import annotations

import os

import pytest

# Offline: the bundled model cost map instead of a fetch at import, and no telemetry.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")
import litellm  # after the environment above, which it reads at import

from tests.serve.conftest import Served

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),  # litellm's own TypedDicts, as pydantic reads them
]

HELLO = [{"role": "user", "content": "hello, how are you"}]


async def test_litellm_completion_streams_and_not_through_serve(served: Served) -> None:
    target = {"api_base": served.url + "/v1", "api_key": "unused", "num_retries": 0}
    reply = await litellm.acompletion(model="openai/zeta:auto", messages=HELLO, **target)
    assert reply.choices[0].message.content and reply.usage.completion_tokens > 0
    assert reply.model.endswith("zeta:auto")
    stream = await litellm.acompletion(model="openai/zeta:code", messages=HELLO, stream=True, **target)
    parts = [chunk.choices[0].delta.content or "" async for chunk in stream]
    assert "".join(parts)


async def test_litellm_embedding_and_an_unknown_model(served: Served) -> None:
    target = {"api_base": served.url + "/v1", "api_key": "unused", "num_retries": 0}
    vectors = await litellm.aembedding(model="openai/zeta:embed", input=["one", "two"], encoding_format="float", **target)
    assert [len(item["embedding"]) > 8 for item in vectors.data] == [True, True]
    with pytest.raises(litellm.NotFoundError):
        await litellm.acompletion(model="openai/no-such-model", messages=HELLO, **target)

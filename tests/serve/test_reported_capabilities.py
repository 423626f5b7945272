"""serve refuses only what the router could not route: a capability the configuration does not
list but the host's /api/show reports (the router merges the two) is accepted."""

from __future__ import annotations

from dataclasses import replace

import httpx

from tests.helpers import wait_until
from tests.serve.conftest import serving
from zeta_console.settings import Settings

HELLO = [{"role": "user", "content": "hello"}]


def completion_only() -> Settings:
    """The default tiers, each configured with "completion" alone (the embedder as it is).
    The emulated reasoner reports thinking and tools, the coder tools and insert."""
    base = Settings()
    models = tuple(
        model if "embedding" in model.capabilities else replace(model, capabilities=frozenset({"completion"})) for model in base.models
    )
    return replace(base, models=models)


async def test_a_capability_only_the_host_reports_is_served() -> None:
    async with serving(base=completion_only()) as served, httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        def reported() -> bool:
            capabilities = {endpoint.tier: endpoint.capabilities for endpoint in served.router.snapshot().endpoints}
            return "thinking" in capabilities["reasoner"] and "insert" in capabilities["coder"]

        await wait_until(reported, timeout=10.0, message="the router read /api/show")

        thinking = await http.post("/api/chat", json={"model": "zeta:reason", "messages": HELLO, "think": True, "stream": False})
        assert thinking.status_code == 200, thinking.text
        assert thinking.json()["message"]["thinking"]
        insert = await http.post(
            "/api/generate", json={"model": "qwen2.5-coder:7b", "prompt": "def f(", "suffix": "return 1", "stream": False}
        )
        assert insert.status_code == 200, insert.text

        show = await http.post("/api/show", json={"model": "qwen3:14b"})
        assert show.json()["capabilities"] == ["completion", "thinking", "tools"]
        tags = {model["name"]: model["capabilities"] for model in (await http.get("/api/tags")).json()["models"]}
        assert "thinking" in tags["zeta:reason"] and "insert" in tags["zeta:code"]

        # what neither the configuration nor any host reports is still refused, in Ollama's words
        vision = await http.post("/api/generate", json={"model": "zeta:reason", "prompt": "what is this", "images": ["aGVsbG8="]})
        assert (vision.status_code, vision.json()) == (400, {"error": "zeta:reason does not support vision"})

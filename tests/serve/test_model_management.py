"""Ollama's model-management routes: serve routes requests, it does not hold models, and says where they are managed."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.serve.conftest import Served

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/pull"),
        ("POST", "/api/push"),
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/blobs/sha256:0123abcd"),
    ],
)
async def test_each_answers_501_naming_the_hosts(served: Served, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        response = await http.request(method, path, json={"model": "qwen3:14b"})
    assert response.status_code == 501
    error = response.json()["error"]
    assert "does not manage models" in error and f"local ({served.fleet.host('local').url})" in error


async def test_the_ollama_client_reports_it(served: Served) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await ollama.AsyncClient(host=served.url).pull("qwen3:14b")
    assert caught.value.status_code == 501 and "on the hosts" in caught.value.error


async def test_a_wrong_verb_is_still_gins_405(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        response = await http.get("/api/pull")
    assert response.status_code == 405

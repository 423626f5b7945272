"""Who may use the endpoint: bind rule, bearer token, Host-header check, body limit, CLI errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import ollama
import pytest

from tests.serve.conftest import serving
from zeta_console.cli import main
from zeta_console.errors import UserError
from zeta_console.settings import Serve, Settings


async def test_non_loopback_bind_without_token_is_refused() -> None:
    with pytest.raises(UserError) as refused:
        async with serving(listen="0.0.0.0:0"):
            pass
    assert refused.value.exit_code == 2


async def test_token_is_required_on_a_non_loopback_bind() -> None:
    async with serving(listen="0.0.0.0:0", token="s3cret") as served:
        url = served.url.replace("0.0.0.0", "127.0.0.1")
        async with httpx.AsyncClient(base_url=url) as http:
            missing = await http.get("/api/tags")
            wrong = await http.get("/api/tags", headers={"Authorization": "Bearer nope"})
            foreign_host = await http.get("/", headers={"Authorization": "Bearer s3cret", "Host": "zeta.example.com"})
        async with ollama.AsyncClient(host=url, headers={"Authorization": "Bearer s3cret"}) as client:
            reply = await client.chat(model="zeta:simple", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(ollama.ResponseError) as denied:
            await asyncio.to_thread(lambda: ollama.Client(host=url).list())
    assert (missing.status_code, missing.json()) == (401, {"error": "unauthorized"})
    assert wrong.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert foreign_host.status_code == 200  # the Host check guards loopback binds only, as in Ollama
    assert reply.done
    assert (denied.value.status_code, denied.value.error) == (401, "unauthorized")


async def test_foreign_host_header_on_a_loopback_bind_is_refused() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        rebound = await http.get("/api/tags", headers={"Host": "attacker.example:11435"})
        local = await http.get("/api/tags", headers={"Host": "localhost:11435"})
    assert (rebound.status_code, rebound.content) == (403, b"")
    assert local.status_code == 200


async def test_bodies_over_the_limit_get_413_by_length_or_by_count() -> None:
    base = replace(Settings(), serve=Serve(max_body_bytes=1024))
    async with serving(base=base) as served, httpx.AsyncClient(base_url=served.url) as http:
        declared = await http.post("/api/chat", content=b"x" * 2048)

        async def chunks():  # no Content-Length: the bytes are counted as they arrive
            for _ in range(4):
                yield b"[" * 512

        streamed = await http.post("/api/chat", content=chunks())
        small = await http.post("/api/chat", json={"model": "zeta:simple", "messages": [], "stream": False})
    assert (declared.status_code, declared.json()) == (413, {"error": "request body exceeds the limit of 1024 bytes"})
    assert streamed.status_code == 413
    assert small.status_code == 200


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["serve", "--listen", "0.0.0.0:11435"], "without a token"),
        (["serve", "--listen", "nowhere"], "expected HOST:PORT"),
        (["serve", "--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
    ],
)
def test_serve_refuses_bad_listen_addresses_in_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert needle in error and error.count("\n") == 1


async def test_the_openai_routes_pass_the_same_guard_and_answer_in_openais_envelope() -> None:
    ask = {"model": "zeta:simple", "messages": [{"role": "user", "content": "hi"}]}
    base = replace(Settings(), serve=Serve(max_body_bytes=1024))
    async with serving(base=base) as served, httpx.AsyncClient(base_url=served.url) as http:
        rebound = await http.post("/v1/chat/completions", json=ask, headers={"Host": "attacker.example:11435"})
        hostile = await http.post("/v1/chat/completions", json=ask, headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
        routed_after = served.router.snapshot().total_requests
        too_big = await http.post("/v1/embeddings", content=b"x" * 2048)
    assert (rebound.status_code, rebound.content) == (403, b"") and (hostile.status_code, hostile.content) == (403, b"")
    assert routed_after == 0
    assert too_big.status_code == 413
    assert too_big.json() == {
        "error": {"message": "request body exceeds the limit of 1024 bytes", "type": "api_error", "param": None, "code": None}
    }

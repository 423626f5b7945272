"""Stopping drains: no new connections, requests in flight finish within serve.drain_grace_s, the
rest end in Ollama's terms (an error line, or a JSON 503) and are journalled; no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from zeta_console.composition import build_router
from zeta_console.demo import demo_fleet
from zeta_console.journal import Journal, JournalReader
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.settings import Settings
from zeta_console.sim import Fault, SimFleet, default_fleet_spec, run_fleet_in_thread

CODER = "qwen2.5-coder:7b"
TIME_SCALE = 20.0
SLOW = Fault(slow_factor=100)  # ~70 ms a token at this time scale: an answer streams for 2 s or more
CHAT = {"model": CODER, "messages": [{"role": "user", "content": "write a python module"}]}


def with_serve(base: Settings, **changes: object) -> Settings:
    return replace(base, serve=replace(base.serve, **changes))


async def warm_then_slow(http: httpx.AsyncClient, fleet: SimFleet) -> None:
    """Load the model at full speed (a slowed load would take minutes), then slow its answers."""
    assert (await http.post("/api/chat", json={**CHAT, "stream": False})).status_code == 200
    fleet.host("local").set_fault(CODER, SLOW)


def queued(router: ZetaDynamicRouter) -> int:
    return sum(point.queued for point in router.snapshot().endpoints)


async def test_what_outlives_a_short_grace_gets_an_error_line_or_a_503_and_is_journalled(tmp_path: Path) -> None:
    async with demo_fleet(time_scale=TIME_SCALE, base=with_serve(Settings(), drain_grace_s=0.3)) as (fleet, settings):
        with Journal(tmp_path / "journal.sqlite3") as journal:
            async with build_router(settings, journal=journal) as router:
                endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
                async with httpx.AsyncClient(base_url=endpoint.url, timeout=30) as http:
                    await warm_then_slow(http, fleet)
                    async with http.stream("POST", "/api/chat", json=CHAT) as streaming:
                        lines = streaming.aiter_lines()
                        assert '"done":false' in await anext(lines)
                        # The coder's one slot is taken: this one waits for its first chunk.
                        waiting = asyncio.ensure_future(http.post("/api/chat", json={**CHAT, "stream": False}))
                        await wait_until(lambda: queued(router) == 1, message="the second request to queue")
                        await endpoint.stop()
                        rest = [json.loads(line) async for line in lines]
                    assert rest[-1] == {"error": "server shutting down"}
                    assert not any(line.get("done") for line in rest)
                    refused = await waiting
                    assert refused.status_code == 503
                    assert refused.headers["content-type"].startswith("application/json")
                    assert refused.json() == {"error": "server shutting down"}
                    with pytest.raises(httpx.ConnectError):
                        await http.get("/api/version")
        outcomes = [record.outcome for record in JournalReader(tmp_path / "journal.sqlite3").recent_requests(10)]
        assert outcomes == ["ok", "cancelled", "cancelled"]

async def test_an_openai_stream_cut_by_the_stop_ends_with_an_error_event_and_a_waiting_one_gets_openais_503() -> None:
    base = with_serve(Settings(), drain_grace_s=0.3)
    async with demo_fleet(time_scale=TIME_SCALE, base=base) as (fleet, settings), ZetaDynamicRouter(settings) as router:
        endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
        async with httpx.AsyncClient(base_url=endpoint.url, timeout=30) as http:
            await warm_then_slow(http, fleet)
            async with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as streaming:
                lines = streaming.aiter_lines()
                assert '"role":"assistant"' in await anext(lines)
                waiting = asyncio.ensure_future(http.post("/v1/chat/completions", json=CHAT))
                await wait_until(lambda: queued(router) == 1, message="the second request to queue")
                await endpoint.stop()
                rest = [line async for line in lines if line]
            refused = await waiting
    error = {"message": "server shutting down", "type": "api_error", "param": None, "code": None}
    assert rest[-1] == "data: " + json.dumps({"error": error}, separators=(",", ":"))
    assert "data: [DONE]" not in rest
    assert (refused.status_code, refused.json()) == (503, {"error": error})


# -- `zeta-console serve` and a real signal ----------------------------------------------------


@contextmanager
def serve_process(tmp_path: Path, fleet: SimFleet, drain_grace_s: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"hosts:\n  - name: local\n    url: {fleet.host('local').url}\n"
        f"journal:\n  path: {tmp_path / 'journal.sqlite3'}\n"
        f"serve:\n  drain_grace_s: {drain_grace_s}\n"
    )
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    process = subprocess.Popen(
        [sys.executable, "-m", "zeta_console.cli", "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().strip()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stream_through_sigterm(process: subprocess.Popen[str], url: str, fleet: SimFleet) -> list[dict[str, object]]:
    """Start a slow stream, SIGTERM the server once its first line arrived, return every line."""
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post("/api/chat", json={**CHAT, "stream": False}).status_code == 200  # loads the model
        fleet.host("local").set_fault(CODER, SLOW)
        with http.stream("POST", "/api/chat", json=CHAT) as streaming:
            lines = streaming.iter_lines()
            received = [json.loads(next(lines))]
            process.send_signal(signal.SIGTERM)
            received += [json.loads(line) for line in lines]
    return received


def drain_with_grace(tmp_path: Path, grace: str) -> tuple[list[dict[str, object]], str, list[str]]:
    """Serve with `grace`, SIGTERM it mid-stream; return the stream's lines, the server's stderr and the
    journalled outcomes, once it exited 0."""
    with (
        run_fleet_in_thread(replace(default_fleet_spec(), time_scale=TIME_SCALE)) as fleet,
        serve_process(tmp_path, fleet, grace) as (process, url),
    ):
        received = stream_through_sigterm(process, url, fleet)
        assert process.wait(timeout=30) == 0
        errors = process.stderr.read() if process.stderr else ""
    return received, errors, [record.outcome for record in JournalReader(tmp_path / "journal.sqlite3").recent_requests(10)]


def test_sigterm_lets_a_stream_finish_within_the_grace(tmp_path: Path) -> None:
    received, errors, outcomes = drain_with_grace(tmp_path, "20s")
    assert received[-1]["done"] is True and len(received) > 20  # streamed for seconds, past the old 2 s cut
    assert "Traceback" not in errors and "stopping" in errors
    assert outcomes == ["ok", "ok"]


def test_sigterm_with_a_short_grace_ends_the_stream_with_an_error_line_and_journals_it(tmp_path: Path) -> None:
    received, errors, outcomes = drain_with_grace(tmp_path, "300ms")
    assert received[-1] == {"error": "server shutting down"}
    assert not any(line.get("done") for line in received)
    assert "Traceback" not in errors
    assert outcomes == ["ok", "cancelled"]


def test_a_second_signal_cuts_the_drain_short(tmp_path: Path) -> None:
    with (
        run_fleet_in_thread(replace(default_fleet_spec(), time_scale=TIME_SCALE)) as fleet,
        serve_process(tmp_path, fleet, "60s") as (process, url), httpx.Client(base_url=url, timeout=30) as http,
    ):
        assert process.stderr is not None
        assert http.post("/api/chat", json={**CHAT, "stream": False}).status_code == 200
        fleet.host("local").set_fault(CODER, Fault(slow_factor=1000))  # would stream for minutes
        with http.stream("POST", "/api/chat", json=CHAT) as streaming:
            lines = streaming.iter_lines()
            next(lines)
            process.send_signal(signal.SIGTERM)
            while "stopping" not in process.stderr.readline():
                pass
            process.send_signal(signal.SIGINT)
            last = json.loads(list(lines)[-1])
        assert process.wait(timeout=30) == 0
        errors = process.stderr.read()
    assert last == {"error": "server shutting down"}
    assert "Traceback" not in errors

"""A client that goes away cancels its routed request (the emulator's slot is freed at once) and logs no error."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from tests.helpers import wait_until
from tests.serve.conftest import busy_slots, serving
from zeta_console.sim import Fault

SLOW = 20.0  # fast loads, yet a long answer is still streaming when the client leaves
LONG_ANSWER = {
    "model": "qwen2.5-coder:7b",
    "messages": [{"role": "user", "content": "write a long python module"}],
    "options": {"num_predict": 2000},
}


async def test_disconnect_mid_stream_frees_the_upstream_slot() -> None:
    async with serving(time_scale=SLOW) as served, httpx.AsyncClient(base_url=served.url) as http:
        async with http.stream("POST", "/api/chat", json=LONG_ANSWER) as response:
            lines = response.aiter_lines()  # keep it referenced: a collected iterator closes the response
            first = await anext(lines)
            assert '"done":false' in first
            assert busy_slots(served.fleet) == 1
        await wait_until(lambda: busy_slots(served.fleet) == 0, message="the emulator's slot to be freed")
        await wait_until(
            lambda: sum(endpoint.in_flight for endpoint in served.router.snapshot().endpoints) == 0, message="the router to forget it"
        )


async def test_disconnect_of_a_non_streaming_request_frees_the_slot() -> None:
    async with serving(time_scale=SLOW) as served, httpx.AsyncClient(base_url=served.url) as http:
        pending = asyncio.ensure_future(http.post("/api/chat", json={**LONG_ANSWER, "stream": False}))
        await wait_until(lambda: busy_slots(served.fleet) == 1, message="the request to reach the emulator")
        pending.cancel()
        await wait_until(lambda: busy_slots(served.fleet) == 0, message="the emulator's slot to be freed")


async def test_disconnect_while_queued_in_the_router_leaves_the_queue() -> None:
    async with serving(time_scale=SLOW) as served, httpx.AsyncClient(base_url=served.url) as http:
        coder = "coder@local"

        def endpoint(name: str) -> tuple[int, int]:
            found = next(point for point in served.router.snapshot().endpoints if point.id == name)
            return found.in_flight, found.queued

        # Answers are 30-120 tokens: slowed down, the first one holds the only slot for about a second, not ~0.1 s.
        served.fleet.host("local").set_fault("qwen2.5-coder:7b", Fault(slow_factor=10))
        async with http.stream("POST", "/api/chat", json=LONG_ANSWER) as holder:
            holder_lines = holder.aiter_lines()  # keep it referenced: a collected iterator closes the response
            await anext(holder_lines)
            queued = asyncio.ensure_future(http.post("/api/chat", json=LONG_ANSWER))
            await wait_until(lambda: endpoint(coder) == (1, 1), message="the second request to queue behind the first")
            queued.cancel()
            await wait_until(lambda: endpoint(coder) == (1, 0), message="the queued request to leave")
        await wait_until(lambda: endpoint(coder) == (0, 0) and busy_slots(served.fleet) == 0, message="everything to be released")


@pytest.mark.parametrize(
    "upload",
    [
        b"Content-Length: 1000\r\n\r\n" + b'{"model": "zeta:simple", "messages": [',
        b"Transfer-Encoding: chunked\r\n\r\n" + b'20\r\n{"model": "zeta:simple", "message',
    ],
    ids=["content-length", "chunked"],
)
async def test_a_client_leaving_mid_upload_logs_nothing_at_error(upload: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        host, port = served.url.removeprefix("http://").rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + upload)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

        async def handled() -> bool:
            scrape = (await http.get("/metrics")).text
            return 'zeta_serve_responses_total{path="/api/chat",status="499"} 1.0' in scrape or bool(errors())

        def errors() -> list[logging.LogRecord]:
            return [record for record in caplog.records if record.levelno >= logging.ERROR]

        await wait_until(handled, message="the endpoint to notice the client left")
    assert errors() == []

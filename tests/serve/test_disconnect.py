"""A client that goes away cancels its routed request: the emulator's slot is freed at once."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import wait_until
from tests.serve.conftest import busy_slots, serving

SLOW = 20.0  # fast loads, yet a long answer is still streaming when the client leaves
LONG_ANSWER = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "write a long python module"}], "options": {"num_predict": 2000}}


async def test_disconnect_mid_stream_frees_the_upstream_slot() -> None:
    async with serving(time_scale=SLOW) as served, httpx.AsyncClient(base_url=served.url) as http:
        async with http.stream("POST", "/api/chat", json=LONG_ANSWER) as response:
            lines = response.aiter_lines()  # keep it referenced: a collected iterator closes the response
            first = await anext(lines)
            assert '"done":false' in first
            assert busy_slots(served.fleet) == 1
        await wait_until(lambda: busy_slots(served.fleet) == 0, message="the emulator's slot to be freed")
        await wait_until(lambda: sum(endpoint.in_flight for endpoint in served.router.snapshot().endpoints) == 0, message="the router to forget it")


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

        async with http.stream("POST", "/api/chat", json=LONG_ANSWER) as holder:
            holder_lines = holder.aiter_lines()  # keep it referenced: a collected iterator closes the response
            await anext(holder_lines)
            queued = asyncio.ensure_future(http.post("/api/chat", json=LONG_ANSWER))
            await wait_until(lambda: endpoint(coder) == (1, 1), message="the second request to queue behind the first")
            queued.cancel()
            await wait_until(lambda: endpoint(coder) == (1, 0), message="the queued request to leave")
        await wait_until(lambda: endpoint(coder) == (0, 0) and busy_slots(served.fleet) == 0, message="everything to be released")

"""A request's objects are freed when it ends, by reference counting: nothing of it waits for the
cyclic garbage collector (whose collections every request in flight waits out, and whose cost grows
with what it finds)."""

from __future__ import annotations

import gc

import httpx

from tests.serve.conftest import serving
from zeta_console.router.run import RequestRun

CHAT = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 4}}
V1 = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def runs_alive() -> int:
    return sum(1 for thing in gc.get_objects() if isinstance(thing, RequestRun))


async def test_answered_requests_leave_nothing_for_the_garbage_collector() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        gc.collect()
        gc.disable()
        try:
            for path, body in [("/api/chat", {**CHAT, "stream": False}), ("/api/chat", CHAT), ("/v1/chat/completions", V1)] * 3:
                assert (await http.post(path, json=body)).status_code == 200
            assert (await http.get("/api/version")).status_code == 200  # the connection's last request holds none
            alive = runs_alive()
        finally:
            gc.enable()
    assert alive == 0

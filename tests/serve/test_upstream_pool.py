"""The pass-through's kept-alive upstream connections (`upstream_sockets.KeptAlive`)."""

from __future__ import annotations

import httpx

from tests.serve.conftest import serving

ASK = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "hi"}], "stream": False, "options": {"num_predict": 4}}


async def test_a_connection_the_host_closed_while_pooled_is_not_reused() -> None:
    """The pool learns from the transport that the host closed an idle connection (a restart, an idle
    timeout): the next request opens a new one instead of failing on the dead one and failing over."""
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        first = await http.post("/api/chat", json=ASK)
        assert first.status_code == 200, first.text
        host = served.fleet.host(first.headers["x-zeta-endpoint"].split("@", 1)[1])
        host.host_down()  # cuts every connection, the pooled idle one too
        await host.host_up()
        again = await http.post("/api/chat", json=ASK)
        assert again.status_code == 200, again.text
        assert again.headers["x-zeta-endpoint"] == first.headers["x-zeta-endpoint"]
        assert again.headers["x-zeta-fallbacks"] == ""

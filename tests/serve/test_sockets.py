"""Every connection on the request path has Nagle's algorithm off (TCP_NODELAY).

A reply written in several pieces (headers, then body; or one NDJSON line per chunk) would
otherwise wait for the peer's delayed ACK, ~40 ms on Linux.
"""

from __future__ import annotations

import gc
import socket

import httpx

from tests.serve.conftest import serving
from zeta_console.serve.upstream_sockets import GatheringStream

CHAT = {"model": "zeta:simple", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def _nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def test_client_and_upstream_connections_have_tcp_nodelay() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.post("/api/chat", json=CHAT)).status_code == 200
        accepted = [connection.transport.get_extra_info("socket") for connection in served.endpoint._server.server_state.connections]
        upstream_pool = served.router.backends["local"]._client()._client._transport._pool  # type: ignore[attr-defined]
        upstream = [connection._connection._network_stream.get_extra_info("socket") for connection in upstream_pool.connections]
        streams = [stream for stream in gc.get_objects() if isinstance(stream, GatheringStream)]  # pass-through, earlier tests' too
        relayed = [sock for sock in (stream.get_extra_info("socket") for stream in streams) if sock.fileno() >= 0]
        assert accepted and upstream and relayed
        assert all(_nodelay(sock) for sock in accepted + upstream + relayed)

"""What a connection may take before its request runs (and before the token check), through real
sockets: a deadline and a size cap on the request head, a cap on open connections."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import httpx
import psutil

from tests.helpers import wait_until
from tests.serve.conftest import Served, serving
from zeta_console.settings import Settings

HEAD_START = b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
VERSION_REQUEST = b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
REPLY_TIMEOUT_S = 5.0


def limited(**changes: float) -> Settings:
    base = Settings()
    return replace(base, serve=replace(base.serve, **changes))


async def connect(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(served.url.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)


async def until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends before it closes the connection."""
    return await asyncio.wait_for(reader.read(), REPLY_TIMEOUT_S)


async def test_a_request_head_that_never_ends_is_closed_after_the_header_timeout() -> None:
    async with serving(base=limited(header_timeout_s=0.3)) as served:
        loop = asyncio.get_running_loop()
        silent_reader, silent = await connect(served)  # never sends a byte
        reader, writer = await connect(served)
        writer.write(HEAD_START)
        started = loop.time()
        assert await until_closed(reader) == b""
        assert loop.time() - started >= 0.25
        assert await until_closed(silent_reader) == b""
        writer.close()
        silent.close()


async def test_the_next_request_head_on_a_kept_alive_connection_has_a_deadline_too() -> None:
    async with serving(base=limited(header_timeout_s=0.3)) as served:
        reader, writer = await connect(served)
        writer.write(VERSION_REQUEST)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REPLY_TIMEOUT_S)
        assert head.startswith(b"HTTP/1.1 200 ")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(HEAD_START)  # a second request that never finishes its head
        assert await until_closed(reader) == b""
        writer.close()


async def test_an_oversized_request_head_gets_431_and_is_not_buffered() -> None:
    async with serving(base=limited(max_header_bytes=16 * 1024)) as served:
        reader, writer = await connect(served)
        rss_before = psutil.Process().memory_info().rss
        reply = asyncio.ensure_future(until_closed(reader))
        writer.write(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        sent, limit = 0, 20 * 1024 * 1024
        with contextlib.suppress(ConnectionError):
            while not reply.done() and sent < limit:
                writer.write(b"a" * 65536)
                await writer.drain()
                sent += 65536
        answer = await reply
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert answer.endswith(b'{"error":"request header fields too large"}')
        assert sent < limit  # the server stopped reading
        assert psutil.Process().memory_info().rss - rss_before < 8 * 1024 * 1024
        writer.close()


async def test_past_the_connection_cap_a_new_connection_gets_503_while_every_open_one_is_busy() -> None:
    async with serving(base=limited(max_connections=2)) as served:
        busy = [await connect(served) for _ in range(2)]
        for _, writer in busy:  # a complete head, a body still to come: the request is running
            writer.write(HEAD_START + b"Content-Length: 100\r\n\r\n")
        await wait_until(lambda: len(served.endpoint._server.server_state.tasks) == 2, message="both requests to run")
        reader, writer = await connect(served)
        writer.write(VERSION_REQUEST)
        answer = await until_closed(reader)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"application/json" in answer
        assert answer.endswith(b'{"error":"server busy, please try again.  too many open connections"}')
        busy[0][1].close()  # one leaves: there is room again
        await wait_until(lambda: len(served.endpoint._server.guard.open) == 1, message="the connection to close")
        async with httpx.AsyncClient(base_url=served.url) as http:
            assert (await http.get("/api/version")).status_code == 200
        busy[1][1].close()
        writer.close()


async def test_at_the_cap_a_stalled_request_head_makes_room_for_a_new_connection() -> None:
    async with serving(base=limited(max_connections=2)) as served:
        _, quiet = await connect(served)  # connected, nothing sent yet: maybe a client about to write
        stalled_reader, stalled = await connect(served)
        stalled.write(HEAD_START)
        guard = served.endpoint._server.guard
        await wait_until(lambda: any(connection.stalled for connection in guard.open), message="the partial head to be read")
        quiet_connection, stalled_connection = guard.open
        async with httpx.AsyncClient(base_url=served.url) as http:
            assert (await http.get("/api/version")).status_code == 200
            assert quiet_connection in guard.open and stalled_connection not in guard.open  # not the older quiet one
        assert await until_closed(stalled_reader) == b""
        quiet.close()
        stalled.close()

"""A reply's head leaves with its body: a non-streamed answer is one write on the client's connection
(one send), a streamed one's head goes with its first line; nothing of the reply is lost on the way
(X-Zeta headers, the access log line, the metrics), and HEAD replies and `100 Continue` still go out.
The router's bookkeeping after an answer (the record, metrics, feedback) runs once the reply has left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.serve.conftest import Served, serving
from zeta_console.router.api import Outcome, RequestRecord

CHAT = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 4}}
ZETA_HEADERS = (b"x-zeta-endpoint: coder@local", b"x-zeta-model: qwen2.5-coder:7b", b"x-zeta-task", b"x-zeta-reason", b"x-zeta-fallbacks")


def record_writes(served: Served, writes: list[Any] | None = None) -> list[Any]:
    """Every write on the endpoint's client connections from now on (appended to `writes`)."""
    writes = [] if writes is None else writes
    for protocol in served.endpoint._server.server_state.connections:
        transport: Any = protocol.transport  # type: ignore[attr-defined]
        write: Callable[[bytes], None] = transport.write

        def recorded(data: bytes, write: Callable[[bytes], None] = write) -> None:
            writes.append(bytes(data))
            write(data)

        transport.write = recorded
    return writes


async def test_a_whole_reply_is_one_write_with_every_zeta_header_logged_and_counted() -> None:
    lines: list[str] = []
    async with serving(access_log=lines.append) as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get("/api/version")).status_code == 200  # the connection the chat reuses
        writes = record_writes(served)
        reply = await http.post("/api/chat", json={**CHAT, "stream": False})
        scraped = (await http.get("/metrics")).text
    assert reply.status_code == 200 and reply.json()["done"] is True
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and all(header in head for header in ZETA_HEADERS)
    assert b'"done":true' in body and body.endswith(b"\r\n0\r\n\r\n")  # the whole reply, to its last chunk
    assert writes[1].startswith(b"HTTP/1.1 200 OK\r\n")  # the next write is /metrics' reply
    assert lines[1].split('"')[1] == "POST /api/chat" and "endpoint=coder@local status=200" in lines[1]
    assert 'zeta_serve_responses_total{path="/api/chat",status="200"} 1.0' in scraped


async def test_a_streamed_reply_sends_its_head_with_the_first_line() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get("/api/version")).status_code == 200
        writes = record_writes(served)
        reply = await http.post("/api/chat", json=CHAT)
    assert reply.status_code == 200 and reply.headers["x-zeta-endpoint"] == "coder@local"
    head, _, first = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b'"model":"qwen2.5-coder:7b"' in first


async def test_head_replies_and_100_continue_are_not_held() -> None:
    async with serving() as served:
        host, port = served.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        body = b'{"model":"zeta:simple","prompt":"hi","stream":false}'
        writer.write(b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 200 OK")
        writer.close()


async def test_every_reply_leaves_before_the_router_records_its_request() -> None:
    v1 = {"model": "qwen2.5-coder:7b", "messages": CHAT["messages"], "max_tokens": 4}
    asked = [
        ("/api/chat", {**CHAT, "stream": False}),
        ("/api/chat", CHAT),
        ("/v1/chat/completions", v1),
        ("/v1/chat/completions", {**v1, "stream": True}),
    ]
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        assert (await http.get("/api/version")).status_code == 200
        events = record_writes(served)
        records: asyncio.Queue[RequestRecord] = asyncio.Queue()

        def on_record(event: object) -> None:
            if isinstance(event, RequestRecord):
                events.append(event)
                records.put_nowait(event)

        unsubscribe = served.router.subscribe(on_record)
        try:
            for path, body in asked:
                events.clear()
                assert (await http.post(path, json=body)).status_code == 200
                record = await asyncio.wait_for(records.get(), 10)
                assert record.outcome is Outcome.OK, (path, body, record)  # the reply's end did not cancel what follows it
                last_write = max(index for index, event in enumerate(events) if isinstance(event, bytes))
                assert events[last_write].endswith(b"0\r\n\r\n") and events.index(record) > last_write, (path, body, events)
        finally:
            unsubscribe()

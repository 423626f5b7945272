"""The pass-through's connections: httpcore2's HTTP/1.1 connections on asyncio's own transports.

httpcore2 (httpx2's transport layer) writes a request's head and body in two socket sends, and
before it reuses an idle connection it asks whether its socket is readable, which its default
backend answers through anyio with a poll. Here writes are gathered until the connection reads
(one send per request: sends are the dearest calls on the path), and "readable" is whether data
or the end of the stream has already arrived, which asyncio's transport tells us as it happens.
The idle connections are kept per origin, newest first (`KeptAlive`): httpcore2's own pool walks
every connection it holds, each through several method calls, twice per request.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import httpcore2


class _Connection(asyncio.Protocol):
    """What arrives on one connection, until httpcore2 reads it."""

    def __init__(self) -> None:
        self.received: deque[bytes] = deque()
        self.ended = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, error: Exception | None) -> None:
        self.ended = True
        self.error = error
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class GatheringStream(httpcore2.AsyncNetworkStream):
    """One connection: writes wait for the next read and go out in one send."""

    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection
        self._unsent: list[bytes] = []

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._unsent:
            self._flush()
        connection = self._connection
        while not connection.received:
            if connection.ended:
                if connection.error is not None:
                    raise httpcore2.ReadError(str(connection.error) or type(connection.error).__name__) from connection.error
                return b""
            connection.waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await connection.waiter
            except TimeoutError:
                raise httpcore2.ReadTimeout(f"no data within {timeout} s") from None
            finally:
                connection.waiter = None
        data = connection.received.popleft()
        if len(data) > max_bytes:
            connection.received.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._unsent.append(buffer)

    def _flush(self) -> None:
        if self._transport.is_closing():
            raise httpcore2.WriteError("the connection is closed")
        self._transport.write(b"".join(self._unsent))
        self._unsent.clear()

    async def aclose(self) -> None:
        self._transport.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle connection with something to read: the server closed it
            return bool(self._connection.received) or self._connection.ended
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


async def connect(host: str, port: int, timeout: float | None) -> GatheringStream:
    """A plain TCP connection (asyncio sets TCP_NODELAY on it) as a `GatheringStream`."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            transport, connection = await loop.create_connection(_Connection, host, port, family=socket.AF_UNSPEC)
    except TimeoutError:
        raise httpcore2.ConnectTimeout(f"no connection within {timeout} s") from None
    except OSError as error:
        raise httpcore2.ConnectError(str(error)) from error
    assert isinstance(transport, asyncio.Transport)
    return GatheringStream(transport, connection)


class KeptAlive:
    """httpcore2 HTTP/1.1 connections (`AsyncHTTP11Connection`) on `GatheringStream`s, kept open between
    requests: a request takes its origin's most recently idle connection, unless the host has closed it
    meanwhile, else opens one; closing its response puts the connection back when it stayed open (read
    to its end, kept alive). Unbounded, as httpcore2's pool was here: the router bounds the requests in
    flight per endpoint."""

    def __init__(self) -> None:
        self._idle: dict[tuple[bytes, int], list[tuple[httpcore2.AsyncHTTP11Connection, GatheringStream]]] = {}

    async def send(self, request: httpcore2.Request) -> httpcore2.Response:
        """`request`'s response, its body not read yet: close it (`aclose`) to give the connection back."""
        origin = request.url.origin
        idle = self._idle.setdefault((origin.host, origin.port), [])
        while idle:
            connection, stream = idle.pop()
            if not stream.get_extra_info("is_readable"):  # an idle connection with something to read: the host closed it
                break
            await connection.aclose()
        else:
            timeout = request.extensions.get("timeout", {}).get("connect")
            stream = await connect(origin.host.decode("ascii"), origin.port, timeout)
            connection = httpcore2.AsyncHTTP11Connection(origin, stream)
        response = await connection.handle_async_request(request)  # on failure the connection closes itself
        body = response.stream
        assert isinstance(body, AsyncIterable)
        response.stream = _GivenBack(body, connection, stream, idle)  # not a new Response: its headers would be checked again
        return response

    async def aclose(self) -> None:
        """Close the idle connections (those in use close with their responses)."""
        for idle in self._idle.values():
            for connection, _ in idle:
                await connection.aclose()
        self._idle.clear()


class _GivenBack:
    """A response body that gives its connection back to the idle ones when closed, if it stays open."""

    def __init__(
        self,
        body: AsyncIterable[bytes],
        connection: httpcore2.AsyncHTTP11Connection,
        stream: GatheringStream,
        idle: list[tuple[httpcore2.AsyncHTTP11Connection, GatheringStream]],
    ) -> None:
        self._body, self._connection, self._stream, self._idle = body, connection, stream, idle
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._body.__aiter__()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        closing = getattr(self._body, "aclose", None)
        if closing is not None:
            await closing()
        if self._connection.is_idle():
            self._idle.append((self._connection, self._stream))

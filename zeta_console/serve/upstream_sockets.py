"""The pass-through's connections: an httpcore2 network backend on asyncio's own transports.

httpcore2 (httpx2's transport layer) writes a request's head and body in two socket sends, and
before it reuses an idle connection it asks whether its socket is readable, which its default
backend answers through anyio with a poll. Here writes are gathered until the connection reads
(one send per request: sends are the dearest calls on the path), and "readable" is whether data
or the end of the stream has already arrived, which asyncio's transport tells us as it happens.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Iterable
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


class GatheringBackend(httpcore2.AsyncNetworkBackend):
    """Plain TCP connections (asyncio sets TCP_NODELAY on them) as `GatheringStream`s."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await loop.create_connection(
                    _Connection, host, port, family=socket.AF_UNSPEC, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"no connection within {timeout} s") from None
        except OSError as error:
            raise httpcore2.ConnectError(str(error)) from error
        assert isinstance(transport, asyncio.Transport)
        return GatheringStream(transport, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

"""uvicorn inside an existing event loop, with its signal handling disabled and connection limits.

The owner of the loop (the console, `serve`, a test, the emulator) decides when to stop; both
the emulator and the `serve` endpoint run this way.

uvicorn (httptools) gives a connection unlimited time and room to send its request head, and
its `limit_concurrency` only answers 503 once a head is complete, so half-sent heads are never
counted out. `ConnectionGuard` adds what every listener needs before any request runs (and so
before the token check): a deadline for the head, a cap on its size, and a cap on open
connections that first closes the oldest idle one, as nginx reuses idle connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from zeta_console.settings import ConnectionLimits

log = logging.getLogger(__name__)

LINGER_S = 1.0  # how long a refused connection's input is read and dropped, so the close does not reset it
CUT_REPLIES_S = 2.0  # after the grace, how long the cancelled requests get to finish their replies and records
ACCEPT_FAILURE = "socket.accept() out of system resource"  # asyncio's context message
ACCEPT_FAILURE_LOG_EVERY_S = 60.0
BUSY_MESSAGE = "server busy, please try again.  too many open connections"
HEAD_TOO_LARGE_MESSAGE = "request header fields too large"


def _raw_reply(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


BUSY_REPLY = _raw_reply(503, "Service Unavailable", BUSY_MESSAGE)
HEAD_TOO_LARGE_REPLY = _raw_reply(431, "Request Header Fields Too Large", HEAD_TOO_LARGE_MESSAGE)


def _answer_and_linger(transport: asyncio.Transport, reply: bytes, linger: bool) -> asyncio.TimerHandle | None:
    """Write `reply` and half-close. Closing with unread input would send a reset, which may
    destroy the reply before the client reads it; so the input is read and dropped for a while."""
    transport.write(reply)
    if not linger:
        transport.close()
        return None
    if transport.can_write_eof():
        transport.write_eof()
    return asyncio.get_running_loop().call_later(LINGER_S, transport.close)


class ConnectionGuard:
    """One listener's open connections, oldest first, within `limits`."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: dict[GuardedHttpProtocol, None] = {}  # insertion-ordered: the oldest first
        self.refusing: set[BusyRefusal] = set()

    def protocol(
        self, config: uvicorn.Config, server_state: ServerState, app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
    ) -> asyncio.Protocol:
        """uvicorn's protocol factory (its `http` setting): called once per accepted connection."""
        if len(self.open) >= self.limits.max_connections and not self._close_oldest_idle():
            return BusyRefusal(self)
        connection = GuardedHttpProtocol(config, server_state, app_state, _loop, guard=self)
        self.open[connection] = None
        return connection

    def _close_oldest_idle(self) -> bool:
        idle = next((connection for connection in self.open if connection.idle), None)
        if idle is None:
            return False
        self.forget(idle)
        idle.transport.close()
        return True

    def forget(self, connection: GuardedHttpProtocol) -> None:
        self.open.pop(connection, None)

    def close_refusals(self) -> None:
        for refusal in list(self.refusing):
            refusal.close()


class BusyRefusal(asyncio.Protocol):
    """A connection past the cap while every open one is answering a request: 503, then close."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # Lingering refusals hold descriptors too: beyond as many as the cap, close at once.
        linger = len(self._guard.refusing) < self._guard.limits.max_connections
        self._linger = _answer_and_linger(transport, BUSY_REPLY, linger)
        if self._linger is not None:
            self._guard.refusing.add(self)

    def data_received(self, data: bytes) -> None:
        pass  # dropped: see _answer_and_linger

    def eof_received(self) -> bool:
        return False  # the client is done sending: close now

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.refusing.discard(self)
        if self._linger is not None:
            self._linger.cancel()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class GuardedHttpProtocol(HttpToolsProtocol):
    """httptools' protocol with a deadline and a size cap on each request head."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: ConnectionGuard,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._guard = guard
        self._limits = guard.limits
        self._reading_head = True  # the next bytes belong to a request line or headers
        self._head_bytes = 0
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> bool:
        """Connected and answering no request: waiting for (the rest of) a request head."""
        return self.transport is not None and (self.cycle is None or self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_deadline()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self)
        self._stop_head_deadline()
        if self._refused is not None:
            self._refused.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            return  # dropped: see _answer_and_linger
        if self._reading_head:
            if self._head_deadline is None:
                self._start_head_deadline()  # the next request on a kept-alive connection
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing, so a read that completes a head is never refused; a head may
        # overshoot the limit by at most one read (asyncio reads up to 256 KiB at a time).
        if self._reading_head and self._head_bytes > self._limits.max_header_bytes and not self.transport.is_closing():
            self._stop_head_deadline()
            self._refused = _answer_and_linger(self.transport, HEAD_TOO_LARGE_REPLY, linger=True)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def _start_head_deadline(self) -> None:
        self._head_deadline = self.loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

    def _stop_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        self.transport.close()


class _AcceptFailureLog:
    """asyncio reports a failing accept() (no descriptors left) with a traceback for every try,
    up to the listen backlog (2,048) per retry a second: a shortage once wrote ~1 M tracebacks in
    70 s. This logs one line a minute instead; asyncio's own retry after a second is the back-off."""

    def __init__(self, previous: Any) -> None:
        self._previous = previous
        self._next_log_at = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_FAILURE:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        if loop.time() >= self._next_log_at:
            self._next_log_at = loop.time() + ACCEPT_FAILURE_LOG_EVERY_S
            log.warning("cannot accept new connections: %s; retrying every second", context.get("exception"))


def _quiet_accept_failures(loop: asyncio.AbstractEventLoop) -> None:
    current = loop.get_exception_handler()
    if not isinstance(current, _AcceptFailureLog):
        loop.set_exception_handler(_AcceptFailureLog(current))


class EmbeddedServer(uvicorn.Server):
    """uvicorn as a task of the caller's loop; `startup_finished` is set once it listens (or failed to).

    Connections are held to `limits`. On shutdown uvicorn waits `timeout_graceful_shutdown` for
    requests in flight, then cancels them without waiting; this waits (briefly) for them to end
    their replies, so their owner sees them finished before it closes what they use.
    """

    def __init__(self, config: uvicorn.Config, limits: ConnectionLimits) -> None:
        assert not config.loaded, "the protocol is chosen when the config loads"
        config.http = self._create_protocol  # type: ignore[assignment]
        super().__init__(config)
        self.guard = ConnectionGuard(limits)
        self.startup_finished = asyncio.Event()

    def _create_protocol(self, *args: Any, **kwargs: Any) -> asyncio.Protocol:
        return self.guard.protocol(*args, **kwargs)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the loop's owner handles signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        _quiet_accept_failures(asyncio.get_running_loop())
        try:
            await super().startup(sockets)
        finally:
            self.startup_finished.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.guard.close_refusals()
        await super().shutdown(sockets)
        if self.server_state.tasks:
            await asyncio.wait(list(self.server_state.tasks), timeout=CUT_REPLIES_S)

"""uvicorn inside an existing event loop, with its signal handling disabled and connection limits.

The owner of the loop (the console, `serve`, a test, the emulator) decides when to stop; both
the emulator and the `serve` endpoint run this way.

uvicorn (httptools) gives a connection unlimited time and room to send its request head, and
its `limit_concurrency` only answers 503 once a head is complete, so half-sent heads are never
counted out. `ConnectionGuard` adds what every listener needs before any request runs (and so
before the token check): a deadline for the head, a cap on its size, and a cap on open
connections that makes room by closing a stalled head first, then an idle connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import weakref
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from zeta_console.settings import ConnectionLimits

log = logging.getLogger(__name__)

LINGER_S = 1.0  # how long a refused connection's input is read and dropped (see Refusal)
LINGER_BYTES = 256 * 1024
MAX_LINGERING = 64  # refused connections lingering at once; past these a refusal closes at once
RESERVED_DESCRIPTORS = 128  # for the rest of the process: upstream connections, the journal, an in-process emulator
ACCEPT_BATCH_RANGE = (64, 2048)
LISTEN_QUEUE = 2048  # uvicorn's default backlog
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


class Refusal:
    """A reply that ends a connection: written, then the write side is closed. Closing with
    unread input would send a reset, which may destroy the reply before the client reads it, so
    input is read and dropped for up to a second (or 256 KiB) before the close."""

    def __init__(self, transport: asyncio.Transport, reply: bytes, linger: bool = True) -> None:
        self._transport = transport
        self._dropped = 0
        self._closing: asyncio.TimerHandle | None = None
        transport.write(reply)
        if not linger:
            transport.close()
            return
        if transport.can_write_eof():
            transport.write_eof()
        self._closing = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def drop(self, data: bytes) -> None:
        self._dropped += len(data)
        if self._dropped > LINGER_BYTES:
            self._transport.close()

    def close(self) -> None:
        self._transport.close()

    def forget(self) -> None:
        """The connection is gone."""
        if self._closing is not None:
            self._closing.cancel()


class ConnectionGuard:
    """One listener's open connections, oldest first, within `limits`: at the cap a new one
    closes an idle one, else it is refused with a 503."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: dict[GuardedHttpProtocol, None] = {}  # insertion-ordered: the oldest first
        self.stalled: dict[GuardedHttpProtocol, None] = {}  # part of a request head read, not all: the first to stall first
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
        """A connection that started a request head and stalls goes first: a client with a real
        request sends its head at once, so under a slow-head flood its connection only waits to be
        read, and is spared until no stalled one is left."""
        victim = next(iter(self.stalled), None) or next((connection for connection in self.open if connection.idle), None)
        if victim is None:
            return False
        self.forget(victim)
        victim.close()
        return True

    def forget(self, connection: GuardedHttpProtocol) -> None:
        self.open.pop(connection, None)
        self.stalled.pop(connection, None)

    def close_refusals(self) -> None:
        for refusal in list(self.refusing):
            refusal.close()


class BusyRefusal(asyncio.Protocol):
    """A connection past the cap while every open one is answering a request: 503, then close."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._refusal: Refusal | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        linger = len(self._guard.refusing) < MAX_LINGERING  # lingering holds a descriptor
        self._refusal = Refusal(transport, BUSY_REPLY, linger)
        if linger:
            self._guard.refusing.add(self)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            self._refusal.drop(data)

    def eof_received(self) -> bool:
        return False  # the client is done sending: close now

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.refusing.discard(self)
        if self._refusal is not None:
            self._refusal.forget()

    def close(self) -> None:
        if self._refusal is not None:
            self._refusal.close()


class HeadWithFirstBody(asyncio.Transport):
    """One response's view of its connection: the head goes out with the first body part, so a whole
    reply is one send, not two (sends are the dearest calls on a proxied request). ASGI lets a server
    hold the head until the first body message; uvicorn writes it at once. A HEAD request's reply
    has no body write: its head is not held. A `100 Continue` (written before the response starts)
    is not held either.

    It knows its cycle by a weak reference: the cycle holds it as its transport, and a reference cycle
    would leave each request's objects (the scope and all it reaches: the routed request, its record)
    to the cyclic garbage collector instead of freeing them when the request ends."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        super().__init__()
        self._transport, self._cycle = transport, weakref.ref(cycle)
        self._head: bytes | None = None
        self._holding = cycle.scope["method"] != "HEAD"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._holding and (cycle := self._cycle()) is not None and cycle.response_started:
            self._holding, self._head = False, bytes(data)
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class GuardedHttpProtocol(HttpToolsProtocol):
    """httptools' protocol with a deadline and a size cap on each request head, and each reply's head
    sent with its body (`HeadWithFirstBody`)."""

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
        self._refused: Refusal | None = None
        self._closed_early = False  # closed by the cap before asyncio made the connection

    @property
    def idle(self) -> bool:
        """Answering no request: waiting for (the rest of) a request head, or not even made yet."""
        return self.cycle is None or self.cycle.response_complete

    @property
    def stalled(self) -> bool:
        """Part of a request head arrived, not all of it."""
        return self in self._guard.stalled

    def close(self) -> None:
        if self.transport is None:
            self._closed_early = True  # a burst of accepts creates protocols before any is made
        else:
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # httptools' protocol narrows it too
        super().connection_made(transport)
        if self._closed_early:
            transport.close()
            return
        self._start_head_deadline()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self)
        self._stop_head_deadline()
        if self._refused is not None:
            self._refused.forget()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            self._refused.drop(data)
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._reading_head or not self._head_bytes:
            return
        if self._head_deadline is None:  # the next request on a kept-alive connection, its head not whole in this read
            self._start_head_deadline()  # (armed after parsing, at the same moment: a head read whole needs no timer)
        if not self.idle:
            return
        self._guard.stalled[self] = None  # kept in its place if it already was
        # Checked after parsing, so a read that completes a head is never refused; a head may
        # overshoot the limit by at most one read (asyncio reads up to 256 KiB at a time).
        if self._head_bytes > self._limits.max_header_bytes and not self.transport.is_closing():
            self._stop_head_deadline()
            self._refused = Refusal(self.transport, HEAD_TOO_LARGE_REPLY)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._guard.stalled.pop(self, None)
        self._stop_head_deadline()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.transport is self.transport:  # a new request's cycle (not an upgrade)
            self.cycle.transport = HeadWithFirstBody(self.transport, self.cycle)

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


def _raise_descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE, first raised to the hard one as Go's runtime does (so Ollama runs so)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # e.g. an unlimited hard limit above the kernel's maximum
            return soft
        return hard
    return soft


def accept_batch(limits: ConnectionLimits) -> int:
    """How many connections asyncio may accept in one loop turn (it uses the `backlog` it is
    given). Each accept takes a descriptor before the cap can close anything, and a closed
    connection frees its descriptor a loop turn later, so a flood can hold the cap, the lingering
    refusals and two batches at once: the batch is what the descriptor limit leaves for two, so
    the cap, not the limit, stops a flood (an accept() failing for want of descriptors delays
    every client by a second). The kernel's queue stays long (see EmbeddedServer.startup)."""
    descriptors = _raise_descriptor_limit()
    spare = (descriptors - RESERVED_DESCRIPTORS - limits.max_connections - MAX_LINGERING) // 2
    low, high = ACCEPT_BATCH_RANGE
    if spare < low:
        log.warning("descriptor limit %d is low for %d connections: raise `ulimit -n`", descriptors, limits.max_connections)
    return max(low, min(high, spare))


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
        config.http = self._create_protocol  # type: ignore[assignment]  # uvicorn takes a protocol factory, typed as a class
        config.backlog = accept_batch(limits)
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
            for sock in sockets or ():
                # asyncio set the kernel's queue to the accept batch; a burst of connections
                # beyond it would be dropped and retried by the clients a second later.
                sock.listen(max(LISTEN_QUEUE, self.config.backlog))
        finally:
            self.startup_finished.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.guard.close_refusals()
        await super().shutdown(sockets)
        if self.server_state.tasks:
            await asyncio.wait(list(self.server_state.tasks), timeout=CUT_REPLIES_S)

"""Running the endpoint inside an existing event loop: `serve` and the console both use this.

uvicorn runs as a task of the caller's loop with its signal handling disabled: the owner of
the loop (the console, or `zeta-console serve`) decides when to stop. Stopping drains: no new
connections, requests in flight get `serve.drain_grace_s` to finish, the rest are cut.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from zeta_console.embedded_server import EmbeddedServer
from zeta_console.errors import UserError
from zeta_console.router.api import Router
from zeta_console.serve.app import create_app
from zeta_console.serve.relay import EndCutReplies
from zeta_console.serve.security import ListenAddress, parse_listen, require_safe_bind
from zeta_console.settings import Settings


@dataclass
class RunningEndpoint:
    url: str
    _server: EmbeddedServer
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        """Close the listener and idle connections, wait up to `serve.drain_grace_s` for the requests
        in flight, then cut the rest (a started stream gets an error line, the others a 503)."""
        self._server.should_exit = True
        await self._task

    def cut(self) -> None:
        """End a `stop()`'s grace now: cut every request still in flight."""
        for task in list(self._server.server_state.tasks):
            task.cancel()


def _bind(address: ListenAddress) -> socket.socket:
    """The listening socket, TCP_NODELAY on: accepted connections inherit it (Linux), and asyncio
    sets it again on connections of a socket that says it is TCP. Without it, Nagle's algorithm
    and a delayed ACK add ~40 ms to a reply sent in several writes (headers, then body)."""
    try:
        family, kind, _, _, socket_address = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(socket_address)
    except OSError as error:
        raise UserError(f"cannot listen on {address.host}:{address.port}: {error.strerror or error}", exit_code=2) from None
    sock.set_inheritable(True)
    return sock


@dataclass
class Listener:
    """A checked address and its bound socket, held from before anything else starts until served."""

    address: ListenAddress
    token: str | None
    sock: socket.socket

    def close(self) -> None:
        self.sock.close()


def open_listener(listen: str, token: str | None) -> Listener:
    """Bind `listen` now, so that a bad, unsafe or busy address fails before the program starts its work.

    Raises UserError (exit status 2) for a bad address, a non-loopback bind without a token or a bind failure.
    """
    address = parse_listen(listen)
    require_safe_bind(address, token)
    return Listener(address, token, _bind(address))


async def start_endpoint(
    router: Router,
    settings: Settings,
    listen: str | None = None,
    token: str | None = None,
    access_log: Callable[[str], None] | None = None,
) -> RunningEndpoint:
    """Start serving Ollama's API through `router` on `listen` (default: settings.serve.listen)."""
    return await serve_on(router, settings, open_listener(listen or settings.serve.listen, token), access_log)


async def serve_on(
    router: Router, settings: Settings, listener: Listener, access_log: Callable[[str], None] | None = None
) -> RunningEndpoint:
    """Serve Ollama's API through `router` on an open listener, handing one line per request to `access_log` if given;
    the endpoint owns the listener's socket from here."""
    address, sock = listener.address, listener.sock
    app = EndCutReplies(create_app(router, settings, token=listener.token, check_host=address.is_loopback, access_log=access_log))
    config = uvicorn.Config(
        app,
        log_config=None,  # leave logging to the host program (the console draws on the terminal)
        access_log=False,
        server_header=False,
        proxy_headers=False,  # no proxy in front: X-Forwarded-For must not rename the client
        lifespan="on",
        timeout_graceful_shutdown=settings.serve.drain_grace_s,  # type: ignore[arg-type]  # annotated int; uvicorn passes it to asyncio.timeout, so fractions work
    )
    server = EmbeddedServer(config, settings.serve)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="zeta-serve")
    await server.startup_finished.wait()
    if not server.started:
        await task
        sock.close()
        raise UserError(f"the endpoint on {address.host}:{address.port} failed to start")
    return RunningEndpoint(url=address.url(sock.getsockname()[1]), _server=server, _task=task)

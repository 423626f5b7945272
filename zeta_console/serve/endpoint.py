"""Running the endpoint inside an existing event loop: `serve` and the console both use this.

uvicorn runs as a task of the caller's loop with its signal handling disabled: the owner of
the loop (the console, or `zeta-console serve`) decides when to stop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from zeta_console.embedded_server import EmbeddedServer
from zeta_console.errors import UserError
from zeta_console.serve.app import Routing, create_app
from zeta_console.serve.security import ListenAddress, parse_listen, require_safe_bind
from zeta_console.settings import Settings

GRACEFUL_SHUTDOWN_S = 2.0


@dataclass
class RunningEndpoint:
    url: str
    _server: EmbeddedServer
    _task: asyncio.Task[None]

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task




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
        raise UserError(f"cannot listen on {address.host}:{address.port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


async def start_endpoint(
    router: Routing,
    settings: Settings,
    listen: str | None = None,
    token: str | None = None,
    access_log: Callable[[str], None] | None = None,
) -> RunningEndpoint:
    """Start serving Ollama's API through `router` on `listen` (default: settings.serve.listen),
    handing one line per request to `access_log` if given.

    Raises UserError (exit status 2) for a bad address or a non-loopback bind without a token.
    """
    address = parse_listen(listen or settings.serve.listen)
    require_safe_bind(address, token)
    app = create_app(router, settings, token=token, check_host=address.is_loopback, access_log=access_log)
    sock = _bind(address)
    config = uvicorn.Config(
        app,
        log_config=None,  # leave logging to the host program (the console draws on the terminal)
        access_log=False,
        server_header=False,
        proxy_headers=False,  # no proxy in front: X-Forwarded-For must not rename the client
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="zeta-serve")
    await server.startup_finished.wait()
    if not server.started:
        await task
        sock.close()
        raise UserError(f"the endpoint on {address.host}:{address.port} failed to start")
    return RunningEndpoint(url=address.url(sock.getsockname()[1]), _server=server, _task=task)

"""Emulated hosts on real sockets: uvicorn tasks in the caller's event loop (or a thread's)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import uvicorn
from starlette.types import Scope

from zeta_console.embedded_server import EmbeddedServer
from zeta_console.settings import ConnectionLimits
from zeta_console.sim.app import create_app
from zeta_console.sim.control import control_routes
from zeta_console.sim.faults import Fault
from zeta_console.sim.profiles import FleetSpec, HostSpec
from zeta_console.sim.service import HostService

LOOPBACK = "127.0.0.1"
GRACEFUL_SHUTDOWN_S = 1
T = TypeVar("T")


class _SimServer(EmbeddedServer):
    """Stops as soon as asked (uvicorn itself polls should_exit every 0.1 s)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config, ConnectionLimits())  # an emulated Ollama holds clients to the endpoint's defaults
        self.exit_requested = asyncio.Event()

    async def main_loop(self) -> None:
        await self.exit_requested.wait()


def _listening_socket(address: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every keep-alive reply waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def _cut(connection: Any) -> None:
    """Close a connection now: the FIN goes out at once (abort alone waits a loop turn), so a
    client's pooled keep-alive connection is seen dead before its next request."""
    transport = getattr(connection, "transport", None)
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    transport.abort()


class SimHost:
    """One emulated Ollama host. Control methods are synchronous and may be called from the
    host's loop or, for a fleet on a thread, from any other thread."""

    def __init__(self, spec: HostSpec, time_scale: float, seed: int, address: str = LOOPBACK) -> None:
        self.spec = spec
        self.name = spec.name
        self.address = address
        self.port = spec.port
        self.service = HostService(spec, time_scale, seed)
        self.app = create_app(self.service, self._cut_connection, control_routes(self))
        self._server: _SimServer | None = None
        self._serving: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._comeback: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    @property
    def up(self) -> bool:
        return self._server is not None and not self._server.should_exit

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            sock = _listening_socket(self.address, self.port)
        except OSError as error:
            raise OSError(error.errno, f"emulated host {self.name!r} cannot listen on {self.url}: {error.strerror}") from None
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        server = _SimServer(config)
        self._server = server
        self._serving = self._loop.create_task(server.serve(sockets=[sock]), name=f"sim-{self.name}")
        await server.startup_finished.wait()
        if not server.started:
            await self._serving
            sock.close()
            raise OSError(f"emulated host {self.name!r} could not listen on {self.url}")

    async def stop(self) -> None:
        if self._comeback is not None:
            self._comeback.cancel()
        self._stop_listening()
        if self._serving is not None:
            await self._serving
        self.service.engine.close()

    def _stop_listening(self) -> None:
        server = self._server
        if server is None:
            return
        for listener in server.servers:
            listener.close()  # refuse new connections from now on
        for connection in list(server.server_state.connections):
            _cut(connection)  # in-flight streams too
        server.should_exit = True
        server.exit_requested.set()

    def _cut_connection(self, scope: Scope) -> None:
        if self._server is None:
            return
        client = tuple(scope.get("client") or ())
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == client:
                _cut(connection)

    # -- control --------------------------------------------------------------------------

    def _on_loop(self, action: Callable[[], T]) -> T:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            return action()

        async def call() -> T:
            return action()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    def set_fault(self, model: str, fault: Fault) -> None:
        self._on_loop(lambda: self.service.set_fault(model, fault))

    def clear_faults(self, model: str | None = None) -> None:
        self._on_loop(lambda: self.service.clear_faults(model))

    def state(self) -> dict[str, Any]:
        return self._on_loop(lambda: self.service.state(self.up))

    def chat_answer(self, model: str, contents: list[str], *, num_predict: int | None = None) -> str:
        return self.service.chat_answer(model, contents, num_predict=num_predict)  # pure: no loop needed

    def straggled(self, contents: list[str]) -> bool:
        return self.service.straggled(contents)  # a set read: no loop needed

    def predict_ttft_s(self, model: str, prompt_tokens: int) -> float:
        """Wall-clock seconds a new request would wait for its first token (queue, load, slowdown)."""
        return self._on_loop(lambda: self.service.predict_ttft_s(model, prompt_tokens))

    def host_down(self) -> None:
        """Stop accepting connections (clients get connection refused) and cut in-flight streams."""
        self._on_loop(self._stop_listening)

    async def host_up(self) -> None:
        """Listen again on the same port."""
        await self._in_own_loop(self._restart())

    async def _restart(self) -> None:
        if self._serving is not None and self._server is not None:
            self._stop_listening()
            await self._serving
        await self.start()

    def down_for(self, seconds: float) -> None:
        """Go down now and come back by itself after `seconds` of wall-clock time."""

        async def comeback() -> None:
            await asyncio.sleep(seconds)
            await self._restart()

        def go_down() -> None:
            self._stop_listening()
            self._comeback = asyncio.get_running_loop().create_task(comeback())

        self._on_loop(go_down)

    async def unload(self, model: str) -> None:
        """Unload `model` as `keep_alive: 0` would: now if idle, else once its requests end."""
        await self._in_own_loop(self._unload(model))

    async def _unload(self, model: str) -> None:
        runtime = self.service.engine.unload(self.service.profile(model).name)
        await runtime.idle.wait()

    async def _in_own_loop(self, work: Awaitable[None]) -> None:
        loop = self._loop
        if loop is None or asyncio.get_running_loop() is loop:
            await work
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_result_of(work), loop))


class SimFleet:
    def __init__(self, hosts: dict[str, SimHost], loop: asyncio.AbstractEventLoop) -> None:
        self.hosts = hosts
        self.loop = loop

    def host(self, name: str) -> SimHost:
        return self.hosts[name]

    @property
    def urls(self) -> dict[str, str]:
        return {name: host.url for name, host in self.hosts.items()}

    def run(self, work: Awaitable[T]) -> T:
        """From another thread: run `work` (e.g. `host.host_up()`) on the fleet's loop and wait."""
        return asyncio.run_coroutine_threadsafe(_result_of(work), self.loop).result()


async def _result_of(work: Awaitable[T]) -> T:
    return await work


@contextlib.asynccontextmanager
async def run_fleet(spec: FleetSpec, address: str = LOOPBACK) -> AsyncIterator[SimFleet]:
    """Start every host of `spec` in the running loop; stop them all on exit."""
    hosts = {host.name: SimHost(host, spec.time_scale, spec.seed + index, address) for index, host in enumerate(spec.hosts)}
    started: list[SimHost] = []
    try:
        for host in hosts.values():
            await host.start()
            started.append(host)
        yield SimFleet(hosts, asyncio.get_running_loop())
    finally:
        for host in started:
            await host.stop()


@contextlib.contextmanager
def run_fleet_in_thread(spec: FleetSpec) -> Iterator[SimFleet]:
    """The same fleet on a background thread with its own loop, for synchronous callers."""
    ready = threading.Event()
    started: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        started["stop"] = stop
        try:
            async with run_fleet(spec) as fleet:
                started["fleet"] = fleet
                ready.set()
                await stop.wait()
        except BaseException as error:  # noqa: BLE001 - handed to the starting thread, which raises it
            started["error"] = error
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="sim-fleet", daemon=True)
    thread.start()
    ready.wait()
    if "error" in started:
        thread.join()
        raise started["error"]
    fleet: SimFleet = started["fleet"]
    try:
        yield fleet
    finally:
        fleet.loop.call_soon_threadsafe(started["stop"].set)
        thread.join()

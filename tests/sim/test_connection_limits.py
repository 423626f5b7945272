"""The emulator's listeners hold clients to the same connection limits as the endpoint."""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import wait_until_sync
from tests.sim.test_cli import free_port
from zeta_console.sim import SimFleet

DESCRIPTORS = 64  # the emulator's whole descriptor limit in the accept-failure test
CONNECTIONS = 120  # more than it can accept


async def test_an_oversized_request_head_gets_431(fleet: SimFleet) -> None:
    port = int(fleet.host("local").url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: " + b"a" * (512 * 1024))
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 431 ")
    writer.close()


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def test_running_out_of_descriptors_logs_one_line_not_a_traceback_per_accept(tmp_path: Path) -> None:
    port = free_port()
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "zeta_console.cli", "sim", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=_low_descriptor_limit,
        )
    clients: list[socket.socket] = []
    try:
        assert process.stdout is not None
        process.stdout.readline()  # listening
        for _ in range(CONNECTIONS):  # the kernel completes them; the emulator cannot accept them all
            clients.append(socket.create_connection(("127.0.0.1", port)))
        wait_until_sync(lambda: "accept" in errors.read_text(), timeout=10, message="the accept() failure to be reported")
        for client in clients:
            client.close()
        # asyncio retries the accept every second: the emulator serves again once descriptors are free.
        assert httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=10).status_code == 200
    finally:
        for client in clients:
            client.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    log = errors.read_text()
    assert "Traceback" not in log
    assert log.count("cannot accept new connections: [Errno 24] Too many open files") == 1

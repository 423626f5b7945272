"""Emulator capacity: non-streaming requests/s and streamed chunks/s with zero-latency models.

The emulator runs in its own process (one host, a zero-latency chat model with 64 slots, so
only HTTP and bookkeeping cost anything); this process drives it with a minimal keep-alive
HTTP/1.1 client over raw asyncio streams, so the load generator is as cheap as possible.

    python bench/sim_capacity.py                      # both measurements, a table
    python bench/sim_capacity.py --seconds 10 --connections 32 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, replace

import psutil

MODEL = "zero:chat"
GOALS = {"requests_per_s": 1000.0, "chunks_per_s": 20000.0}


def serve(port: int) -> None:
    from zeta_console.sim import FleetSpec, HostSpec, run_fleet, zero_latency_profile

    spec = FleetSpec(hosts=(HostSpec(name="bench", port=port, num_parallel=64, models=(zero_latency_profile(MODEL),)),))

    async def main() -> None:
        async with run_fleet(spec) as fleet:
            print(fleet.host("bench").url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def _request(host: str, port: int, stream: bool, index: int) -> bytes:
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": f"question {index % 97}"}], "stream": stream}).encode()
    head = f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _read_reply(reader: asyncio.StreamReader) -> int:
    """Read one HTTP response; return how many NDJSON lines (or JSON objects) its body held."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    headers = head.lower()
    if b"transfer-encoding: chunked" not in headers:
        length = int(headers.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        return 1
    lines = 0
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return lines
        lines += (await reader.readexactly(size + 2)).count(b"\n") - 1


@dataclass(frozen=True)
class Measurement:
    requests: int
    lines: int
    seconds: float
    server_cpu_s: float = 0.0  # CPU time the emulator process spent meanwhile


async def _drive(url: str, stream: bool, connections: int, seconds: float) -> Measurement:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    deadline = time.perf_counter() + seconds
    counts = [0, 0]

    async def connection(number: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        index = number
        while time.perf_counter() < deadline:
            writer.write(_request(host, int(port), stream, index))
            lines = await _read_reply(reader)  # not `counts[1] += await ...`: that loses updates
            counts[0] += 1
            counts[1] += lines
            index += connections
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(number) for number in range(connections)))
    return Measurement(counts[0], counts[1], time.perf_counter() - started)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _measured(emulator: psutil.Process, url: str, stream: bool, args: argparse.Namespace) -> Measurement:
    before = _cpu_s(emulator)
    measurement = asyncio.run(_drive(url, stream, args.connections, args.seconds))
    return replace(measurement, server_cpu_s=_cpu_s(emulator) - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the emulator process
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    server = subprocess.Popen([sys.executable, __file__, "--serve", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        emulator = psutil.Process(server.pid)
        asyncio.run(_drive(url, False, args.connections, 1.0))  # warm-up
        plain = _measured(emulator, url, False, args)
        streamed = _measured(emulator, url, True, args)
    finally:
        server.terminate()
        server.wait()
    results = {
        "requests_per_s": plain.requests / plain.seconds,
        "chunks_per_s": streamed.lines / streamed.seconds,
        "streamed_requests_per_s": streamed.requests / streamed.seconds,
        "chunks_per_stream": streamed.lines / max(1, streamed.requests),
        # what one fully used core of the emulator would do: the load generator shares the CPUs
        "requests_per_emulator_cpu_s": plain.requests / plain.server_cpu_s,
        "chunks_per_emulator_cpu_s": streamed.lines / streamed.server_cpu_s,
        "emulator_cpu_share_plain": plain.server_cpu_s / plain.seconds,
        "emulator_cpu_share_streamed": streamed.server_cpu_s / streamed.seconds,
    }
    if args.json:
        print(json.dumps({**results, "connections": args.connections, "seconds": args.seconds}))
    else:
        for name, value in results.items():
            goal = GOALS.get(name)
            verdict = "" if goal is None else ("  goal met" if value >= goal else f"  BELOW goal {goal:,.0f}")
            shown = f"{value:>10.2f}" if name.startswith("emulator_cpu_share") else f"{value:>10,.0f}"
            print(f"{name:>28}: {shown}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

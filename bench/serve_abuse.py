"""Unauthenticated connection abuse against `serve`, while a client keeps chatting.

    python bench/serve_abuse.py [--seconds 20] [--slow 2000] [--huge 20] [--comeback 1] [--tree PATH] [--json OUT]

`zeta-console serve --demo` (from `--tree`, default this checkout; `--tree /work/main` measures
main) runs in its own process with a descriptor limit of 1,024, the usual default. Everything
is on loopback. For `--seconds`:
- `--slow` connections each send half a request head and then one more header line every
  2 s, never finishing it; one the server closes comes back `--comeback` seconds later;
- `--huge` connections each send a request line and one header that never ends, 64 KiB at a
  time, up to 20 MB each; one the server closes comes back `--comeback` seconds later;
- a client in a process of its own (the attackers' loop must not delay it) sends a short chat
  (coder model, 8 tokens, non-streaming) every 0.5 s, each on a new connection, 10 s timeout.
The same client measures the normal latency before the attack (20 chats, after a warm-up).
Reported: chat latency before and during, failed chats, the server's peak RSS and open
descriptors, and what it wrote to stderr (bytes, tracebacks). Goal: every chat answered with
p95 within twice the normal p95, and RSS under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil

MODEL = "qwen2.5-coder:7b"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "stream": False, "options": {"num_predict": 8}}
SERVER_NOFILE = 1024
SLOW_HEAD = b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
SLOW_DRIP_S = 2.0
HUGE_HEAD = b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: "
HUGE_PIECE = b"a" * 65536
HUGE_LIMIT = 20 * 1024 * 1024
PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 10.0
BASELINE_PROBES = 20
GOAL_RSS_MB = 150.0


@dataclass
class Attack:
    connections: int = 0  # opened, comebacks included
    closed_by_server: int = 0
    refused: int = 0  # connect() failed
    bytes_sent: int = 0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    home: Path  # its XDG directories, removed at the end
    stderr_bytes: int = 0
    tracebacks: int = 0
    peak_rss_mb: float = 0.0
    peak_fds: int = 0
    stderr_head: list[str] = field(default_factory=list)


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def start_server(tree: Path) -> Server:
    def low_descriptor_limit() -> None:  # as `ulimit -n 1024`: soft and hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_NOFILE, SERVER_NOFILE))

    home = Path(tempfile.mkdtemp(prefix="serve-abuse-"))
    env = {**os.environ, "PYTHONPATH": str(tree), "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}
    process = subprocess.Popen(
        [sys.executable, "-m", "zeta_console.cli", "serve", "--demo", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=home,
        preexec_fn=low_descriptor_limit,
    )
    assert process.stdout is not None
    server = Server(process, process.stdout.readline().decode().strip(), home)
    threading.Thread(target=_count_stderr, args=(server,), daemon=True).start()
    return server


def _count_stderr(server: Server) -> None:
    """Read the server's stderr as it comes (a full pipe would stall the server) and count it."""
    assert server.process.stderr is not None
    tail = b""
    while chunk := server.process.stderr.read1(1 << 16):
        server.stderr_bytes += len(chunk)
        text = tail + chunk
        server.tracebacks += text.count(b"Traceback (most recent call last)") - tail.count(b"Traceback (most recent call last)")
        tail = text[-64:]
        if len(server.stderr_head) < 12:
            server.stderr_head.extend(line for line in chunk.decode(errors="replace").splitlines()[:12] if line.strip())


def listen_overflows() -> int:
    """Linux's count of connections dropped because a listen queue was full (all sockets)."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines() if line.startswith("TcpExt:")]
    except OSError:
        return 0
    return int(dict(zip(lines[0], lines[1], strict=True)).get("ListenOverflows", 0))


def run_queue_wait_s(pid: int) -> float:
    """Seconds the process's threads waited for a CPU (Linux schedstat), 0 where unknown."""
    try:
        return sum(int((task / "schedstat").read_text().split()[1]) for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def sample_server(server: Server, stop: asyncio.Event) -> None:
    process = psutil.Process(server.process.pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            server.peak_rss_mb = max(server.peak_rss_mb, process.memory_info().rss / 2**20)
            server.peak_fds = max(server.peak_fds, process.num_fds())
        await asyncio.sleep(0.25)


FAILURES: dict[str, int] = {}


async def chat(http: httpx.AsyncClient, url: str) -> float | None:
    started = time.perf_counter()
    try:
        response = await http.post(f"{url}/api/chat", json=BODY, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as error:
        reason = type(error).__name__
    else:
        if response.status_code == 200:
            return time.perf_counter() - started
        reason = f"HTTP {response.status_code}"
    FAILURES[reason] = FAILURES.get(reason, 0) + 1
    return None


async def probe(url: str, seconds: float) -> dict[str, object]:
    """The chatting client: every PROBE_EVERY_S for `seconds`, or BASELINE_PROBES in a row (seconds 0)."""
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        if not seconds:
            for _ in range(3):  # warm-up: the emulated model loads (3 s) on the first request
                await chat(http, url)
            FAILURES.clear()
            return {"latencies": [await chat(http, url) for _ in range(BASELINE_PROBES)], "failures": FAILURES}
        probes = []
        for _ in range(int(seconds / PROBE_EVERY_S)):
            probes.append(asyncio.ensure_future(chat(http, url)))
            await asyncio.sleep(PROBE_EVERY_S)
        return {"latencies": list(await asyncio.gather(*probes)), "failures": FAILURES}


async def run_probe(url: str, seconds: float) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(sys.executable, __file__, "--probe", url, str(seconds), stdout=subprocess.PIPE)
    output, _ = await process.communicate()
    result: dict[str, object] = json.loads(output)
    return result


async def _closed(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the server closed (or answered and closed) within `seconds`."""
    try:
        await asyncio.wait_for(reader.read(65536), seconds)
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


Abuse = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Attack, asyncio.Event], Awaitable[None]]


async def attacker(port: int, comeback_s: float, attack: Attack, stop: asyncio.Event, abuse: Abuse) -> None:
    """Connect, abuse the connection until the server closes it or the run stops, come back later."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            attack.refused += 1
        else:
            attack.connections += 1
            try:
                await abuse(reader, writer, attack, stop)
            except OSError:
                attack.closed_by_server += 1
            finally:
                writer.transport.abort()
        await asyncio.sleep(comeback_s)


async def slow_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, attack: Attack, stop: asyncio.Event) -> None:
    writer.write(SLOW_HEAD)
    while not stop.is_set():
        if await _closed(reader, SLOW_DRIP_S):
            attack.closed_by_server += 1
            return
        writer.write(b"X-Slow: 1\r\n")
        attack.bytes_sent += 11


async def huge_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, attack: Attack, stop: asyncio.Event) -> None:
    closed = asyncio.ensure_future(_closed(reader, float("inf")))
    try:
        writer.write(HUGE_HEAD)
        sent = 0
        while not stop.is_set() and not closed.done() and sent < HUGE_LIMIT:
            writer.write(HUGE_PIECE)
            await writer.drain()
            sent += len(HUGE_PIECE)
            attack.bytes_sent += len(HUGE_PIECE)
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait((closed, stopping), return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if closed.done():
            attack.closed_by_server += 1
    finally:
        closed.cancel()


async def measure(server: Server, args: argparse.Namespace) -> dict[str, object]:
    port = int(server.url.rsplit(":", 1)[1])
    sampling = asyncio.Event()
    sampler = asyncio.ensure_future(sample_server(server, sampling))
    normal = [latency for latency in (await run_probe(server.url, 0))["latencies"] if latency is not None]  # type: ignore[attr-defined]
    process = psutil.Process(server.process.pid)
    rss_before = process.memory_info().rss / 2**20
    overflows_before, cpu_before, started = listen_overflows(), process.cpu_times(), time.perf_counter()
    waited_before, own_cpu_before = run_queue_wait_s(process.pid), psutil.Process().cpu_times()
    stop = asyncio.Event()
    slow, huge = Attack(), Attack()
    attackers = [asyncio.ensure_future(attacker(port, args.comeback, slow, stop, slow_head)) for _ in range(args.slow)]
    attackers += [asyncio.ensure_future(attacker(port, args.comeback, huge, stop, huge_head)) for _ in range(args.huge)]
    probed = await run_probe(server.url, args.seconds)
    cpu_after, overflows, elapsed = process.cpu_times(), listen_overflows() - overflows_before, time.perf_counter() - started
    waited, own_cpu = run_queue_wait_s(process.pid) - waited_before, psutil.Process().cpu_times()
    stop.set()
    await asyncio.gather(*attackers)
    async with httpx.AsyncClient() as http:
        after = await chat(http, server.url)
    sampling.set()
    await sampler
    during: list[float | None] = probed["latencies"]  # type: ignore[assignment]
    answered = [latency for latency in during if latency is not None]
    return {
        "normal_chat_ms": {"p50": percentile(normal, 0.5) * 1e3, "p95": percentile(normal, 0.95) * 1e3},
        "chat_under_attack_ms": {
            "p50": percentile(answered, 0.5) * 1e3,
            "p95": percentile(answered, 0.95) * 1e3,
            "max": max(answered, default=float("nan")) * 1e3,
        },
        "chats": len(during),
        "chats_failed": len(during) - len(answered),
        "failures": probed["failures"],
        "chat_after_ms": after * 1e3 if after is not None else None,
        "rss_before_mb": rss_before,
        "peak_rss_mb": server.peak_rss_mb,
        "peak_fds": server.peak_fds,
        "server_cpu_percent": 100 * (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed,
        "listen_overflows": overflows,
        "server_waiting_for_cpu_percent": 100 * waited / elapsed,
        "attackers_cpu_percent": 100 * (own_cpu.user + own_cpu.system - own_cpu_before.user - own_cpu_before.system) / elapsed,
        "slow": asdict(slow),
        "huge": asdict(huge),
    }


def report(result: dict[str, object], server: Server, args: argparse.Namespace) -> None:
    normal, during = result["normal_chat_ms"], result["chat_under_attack_ms"]
    assert isinstance(normal, dict) and isinstance(during, dict)
    print(
        f"serve abuse: {args.slow} slow heads + {args.huge} never-ending headers for {args.seconds:g} s "
        f"(back {args.comeback:g} s after a close), "
        f"server descriptor limit {SERVER_NOFILE}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"chat before: p50 {normal['p50']:.0f} ms, p95 {normal['p95']:.0f} ms")
    print(
        f"chat during: p50 {during['p50']:.0f} ms, p95 {during['p95']:.0f} ms, max {during['max']:.0f} ms; "
        f"{result['chats_failed']} of {result['chats']} failed {result['failures'] or ''}"
    )
    print(f"chat after: {result['chat_after_ms']} ms")
    print(f"server RSS {result['rss_before_mb']:.0f} MB before, peak {result['peak_rss_mb']:.0f} MB; peak descriptors {result['peak_fds']}")
    print(
        f"during the attack: server CPU {result['server_cpu_percent']:.0f} %, "
        f"server waiting for a CPU {result['server_waiting_for_cpu_percent']:.0f} %, "
        f"attackers' CPU {result['attackers_cpu_percent']:.0f} %; connections dropped by a full listen queue: {result['listen_overflows']}"
    )
    print(f"server stderr: {server.stderr_bytes} bytes, {server.tracebacks} tracebacks")
    print(f"slow heads: {result['slow']}")
    print(f"huge headers: {result['huge']}")
    peak_rss_mb = float(result["peak_rss_mb"])  # type: ignore[arg-type]
    met = result["chats_failed"] == 0 and during["p95"] <= 2 * normal["p95"] and peak_rss_mb < GOAL_RSS_MB
    print(f"goal (every chat answered, p95 within 2x normal, RSS < {GOAL_RSS_MB:g} MB): {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--slow", type=int, default=2000)
    parser.add_argument("--huge", type=int, default=20)
    parser.add_argument("--comeback", type=float, default=1.0, help="seconds before a closed attacker connects again")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent, help="the checkout whose server to run")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(asyncio.run(probe(args.probe[0], float(args.probe[1])))))
        return 0
    if args.seconds > 120 or args.slow > 5000 or args.huge > 100:
        parser.error("bounded: at most 120 s, 5000 slow and 100 huge connections")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = args.slow + args.huge + 256
    if needed > hard:
        parser.error(f"this process needs {needed} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    server = start_server(args.tree)
    try:
        result = asyncio.run(measure(server, args))
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
        shutil.rmtree(server.home, ignore_errors=True)
    report(result, server, args)
    if server.stderr_head:
        print("server stderr begins:", *server.stderr_head[:6], sep="\n  ")
    if args.json:
        log = {"stderr_bytes": server.stderr_bytes, "tracebacks": server.tracebacks}
        Path(args.json).write_text(json.dumps({**result, **log, "args": vars(args) | {"tree": str(args.tree)}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

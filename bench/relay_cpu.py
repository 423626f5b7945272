"""CPU per upstream exchange of serve's pass-through alone: `OllamaPassThrough.whole`, 16 at a time, against the emulator.

    python bench/relay_cpu.py [--requests 3200] [--pairs 5] [--against CHECKOUT]

What the relay's HTTP client costs without the router, the endpoint and the client side of serve around it
(bench/serve_overhead.py measures all of serve). The same non-streaming chat as serve_overhead.py's, sent as
bytes to a zero-latency emulator in its own process; each measurement is a fresh process (this checkout's code,
or `--against`'s, alternated pair by pair against the same emulator), and its CPU time (user + system) over
`--requests` exchanges after a warm-up is divided by them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

THIS_CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_overhead import OLLAMA_BODY, spawn  # noqa: E402  # the bench beside this one: its request and emulator role

CONCURRENCY = 16
WARM_UP = 30  # exchanges per worker


async def exchanges(upstream: str, requests: int) -> float:
    """CPU microseconds per exchange of this process's pass-through."""
    import json

    from zeta_console.serve.passthrough import HEADERS, OllamaPassThrough
    from zeta_console.settings import Timeouts

    relay, url, body = OllamaPassThrough(Timeouts()), f"{upstream}/api/chat", json.dumps(OLLAMA_BODY).encode()

    async def worker(count: int) -> None:
        for _ in range(count):
            await relay.whole(url, body, HEADERS)

    await asyncio.gather(*(worker(WARM_UP) for _ in range(CONCURRENCY)))
    before = os.times()
    await asyncio.gather(*(worker(requests // CONCURRENCY) for _ in range(CONCURRENCY)))
    after = os.times()
    await relay.aclose()
    return (after.user - before.user + after.system - before.system) / (requests // CONCURRENCY * CONCURRENCY) * 1e6


def measure(checkout: Path, upstream: str, requests: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(THIS_CHECKOUT / "bench" / "relay_cpu.py"), "--role", upstream, str(requests)]
    return float(subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True, check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--against", metavar="CHECKOUT", type=Path, help="also measure this checkout's pass-through (the baseline)")
    parser.add_argument("--role", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(f"{asyncio.run(exchanges(args.role[0], int(args.role[1]))):.1f}")
        return 0
    emulator, upstream = spawn("emulator")
    try:
        for pair in range(1, args.pairs + 1):
            ours = measure(THIS_CHECKOUT, upstream, args.requests)
            line = f"pair {pair}: {ours:.0f} us of CPU per exchange"
            if args.against is not None:
                base = measure(args.against.resolve(), upstream, args.requests)
                line += f", baseline {base:.0f} us, ratio {ours / base:.3f}"
            print(line, f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Router overhead: one chat through ZetaDynamicRouter vs the official client called directly.

Both stream the same zero-latency emulated model over loopback, interleaved request by request
so that drift on the machine hits both alike. Reported: p50 and p99 per request and the ratios.

    python bench/router_overhead.py [--requests 2000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import ollama

from zeta_console.composition import build_router
from zeta_console.demo import demo_settings, zero_latency_fleet_spec
from zeta_console.journal import Journal
from zeta_console.router.requests import ChatRequest
from zeta_console.sim import run_fleet

MODEL = "qwen2.5-coder:7b"
PROMPT = "write a python function that reverses a list"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


async def measure(requests: int, warmup: int) -> tuple[list[float], list[float]]:
    async with run_fleet(zero_latency_fleet_spec()) as fleet:
        settings = demo_settings(fleet)
        client = ollama.AsyncClient(host=settings.hosts[0].url)
        messages = [{"role": "user", "content": PROMPT}]
        with tempfile.TemporaryDirectory() as state:
            journal = Journal(Path(state) / "journal.sqlite3")
            try:
                async with build_router(settings, journal=journal) as router:

                    async def direct() -> None:
                        async for _ in await client.chat(MODEL, messages, stream=True):
                            pass

                    async def routed() -> None:
                        async with router.chat(ChatRequest(messages=messages)) as stream:
                            async for _ in stream:
                                pass

                    direct_s: list[float] = []
                    routed_s: list[float] = []
                    for index in range(warmup + requests):
                        for run, samples in ((direct, direct_s), (routed, routed_s)):
                            started = time.perf_counter()
                            await run()
                            if index >= warmup:
                                samples.append(time.perf_counter() - started)
            finally:
                journal.close()
                await client.close()
    return direct_s, routed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    direct_s, routed_s = asyncio.run(measure(args.requests, args.warmup))
    print(f"{args.requests} streamed chats each, {MODEL} zero-latency, after {args.warmup} warm-up")
    print(f"{'':8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, samples in (("direct", direct_s), ("router", routed_s)):
        print(
            f"{name:8} {percentile(samples, 0.5) * 1e3:8.3f} {percentile(samples, 0.99) * 1e3:8.3f} {statistics.fmean(samples) * 1e3:8.3f}"
        )
    print(
        f"ratio    {percentile(routed_s, 0.5) / percentile(direct_s, 0.5):8.3f}"
        f" {percentile(routed_s, 0.99) / percentile(direct_s, 0.99):8.3f}"
    )


if __name__ == "__main__":
    main()

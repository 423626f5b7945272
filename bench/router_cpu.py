"""The router's own CPU per request, submit to record: `router.relay()` with an in-process relay that answers at once.

    python bench/router_cpu.py [--requests 20000] [--warmup 2000] [--stream CHUNKS] [--listeners] [--journal] [--profile N]

The request is what `serve` routes for `bench/serve_overhead.py`: a non-streaming `/api/chat` pinned to the
coder model (`target`), relayed whole, on serve_overhead's fleet (one host, 64 slots per model). The router is
started against a zero-latency emulated host (its health rounds run as they do in serve), but the answer comes
from the relay itself, with no I/O: what is timed is the router (classify, decide, admit, dispatch, timers,
metrics, feedback, affinity, the Decision and the RequestRecord) and the relay's few lines, the same on both
sides of a comparison. Requests run one after another on one event loop; reported: CPU (process time) per
request and the per-request wall time's p50 / p99, after a warm-up. `--stream N` relays a stream of N chunks
instead (the per-chunk path), `--listeners` attaches a listener that receives every event (as the journal and
serve's metrics do), `--journal` subscribes a real journal on a temporary file, as `serve` does (its writer thread's
CPU counts: the time is read after it has written every record), `--profile N` prints cProfile's N costliest functions
by own time instead of timing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import platform
import pstats
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

from zeta_console.backends.types import Delta, FinalTimings, RawChunk
from zeta_console.demo import zero_latency_fleet_spec
from zeta_console.journal import Journal
from zeta_console.router.api import RouterEvent, Upstream
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import HostConfig, Settings
from zeta_console.sim import run_fleet

MODEL = "qwen2.5-coder:7b"
MESSAGES = ({"role": "user", "content": "hello"},)
PARALLEL = 64  # as serve_overhead.py: the bench measures the router, not queueing for a slot
TIMINGS = FinalTimings(total_s=0.01, load_s=0.0, prompt_tokens=26, prefill_s=0.002, output_tokens=8, decode_s=0.008, done_reason="stop")
BODY = b'{"model":"qwen2.5-coder:7b","message":{"role":"assistant","content":"hi"},"done":true}\n'


@dataclass(frozen=True)
class InstantRelay:
    """Answers every request at once from memory: `chunks` pieces, the last one final."""

    chunks: int
    whole: bool
    apis: frozenset[str] = frozenset({"ollama", "openai"})
    translator: Callable[[], Callable[[Delta], RawChunk]] | None = None

    async def open(self, upstream: Upstream) -> AsyncGenerator[RawChunk, None]:
        return self._pieces()

    async def _pieces(self) -> AsyncGenerator[RawChunk, None]:
        for _ in range(self.chunks - 1):
            yield RawChunk(BODY)
        yield RawChunk(BODY, TIMINGS)


def ignore(event: RouterEvent) -> None:
    """A listener that does nothing: what delivering events costs when someone listens."""


def bench_settings(upstream: str) -> Settings:
    base = Settings()
    return replace(base, hosts=(HostConfig("local", upstream),), models=tuple(replace(m, slots=PARALLEL) for m in base.models))


async def run(requests: int, warmup: int, chunks: int, listeners: bool, journal: Journal | None, profile: int) -> None:
    async with run_fleet(zero_latency_fleet_spec()) as fleet, ZetaDynamicRouter(bench_settings(fleet.host("local").url)) as router:
        if listeners:
            router.subscribe(ignore)
        if journal is not None:
            router.subscribe(journal.observe)
        relay = InstantRelay(chunks, whole=chunks == 1)
        request = ChatRequest(
            messages=list(MESSAGES), target=MODEL, options={"num_predict": 8}, client="serve:127.0.0.1", stream=chunks > 1
        )

        async def one() -> None:
            async with router.relay(request, relay) as routed:
                async for _ in routed:
                    pass
            assert routed.record is not None and routed.record.outcome.value == "ok", routed.record

        for _ in range(warmup):
            await one()
        if journal is not None:
            journal.flush()
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                await one()
            profiler.disable()
            print(f"{requests} requests, cProfile by own time (per request: divide by {requests})")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
            return
        clock = time.perf_counter_ns
        walls = [0] * requests
        cpu_started = time.process_time()
        for index in range(requests):
            started = clock()
            await one()
            walls[index] = clock() - started
        if journal is not None:
            journal.flush()
        cpu_s = time.process_time() - cpu_started
        walls.sort()
        kind = f"streamed, {chunks} chunks" if chunks > 1 else "whole (stream: false)"
        kind += ", journalled" if journal is not None else ""
        print(f"router CPU per request: {requests} relayed chats ({kind}), Python {platform.python_version()}")
        print(f"  CPU per request {cpu_s / requests * 1e6:8.1f} us")
        print(f"  wall p50        {walls[requests // 2] / 1e3:8.1f} us")
        print(f"  wall p99        {walls[requests * 99 // 100] / 1e3:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--stream", type=int, default=1, metavar="CHUNKS", help="relay a stream of this many chunks (1: whole)")
    parser.add_argument("--listeners", action="store_true", help="attach a listener (the journal and serve's metrics are listeners)")
    parser.add_argument("--journal", action="store_true", help="journal every record to a temporary file, as serve does")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's N costliest functions instead of timing")
    args = parser.parse_args()
    if not args.journal:
        asyncio.run(run(args.requests, args.warmup, max(1, args.stream), args.listeners, None, args.profile))
        return
    with tempfile.TemporaryDirectory() as directory, Journal(Path(directory) / "journal.sqlite3") as journal:
        asyncio.run(run(args.requests, args.warmup, max(1, args.stream), args.listeners, journal, args.profile))


if __name__ == "__main__":
    main()

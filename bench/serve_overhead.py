"""Added latency of `serve`: the same request to the emulator directly and through the proxy.

    python bench/serve_overhead.py [--seconds 10] [--rates 50,200] [--concurrency 16] [--json OUT]

Three processes on this machine: the emulated fleet with zero-latency models, `serve` (router +
endpoint) in front of it, and this load generator. Each rate is an open loop: arrivals are
paced on a fixed schedule whatever the replies do, and a request's latency runs from its
scheduled start to the end of its reply (so a stalled proxy cannot hide its queue). The
request is a non-streaming chat pinned to the coder model, identical for both targets; the
added latency is p50/p99 through the proxy minus p50/p99 direct. Maximum req/s is a closed
loop with `--concurrency` requests always outstanding. CPU per request is the server process's
CPU time (user + system) over the closed loop divided by the requests it answered: on a small
shared machine it is much steadier than the latencies. Goal at 200 req/s: p50 <= 1 ms and
p99 <= 5 ms added.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx
import psutil

WARM_UP_REQUESTS = 300
GOAL_P50_MS, GOAL_P99_MS = 1.0, 5.0
MODEL = "qwen2.5-coder:7b"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "stream": False, "options": {"num_predict": 8}}


@dataclass(frozen=True)
class Run:
    target: str
    rate: float | None  # None: closed loop
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    achieved_per_s: float
    server_cpu_ms_per_request: float = float("nan")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def open_loop(http: httpx.AsyncClient, url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            response = await http.post(url, json=BODY)
        except httpx.HTTPError:  # an overloaded server may close connections: count it, as a status error
            errors += 1
            return
        if response.status_code == 200:
            latencies.append(loop.time() - scheduled)
        else:
            errors += 1

    start = loop.time() + 0.05
    tasks = []
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies, errors


async def closed_loop(http: httpx.AsyncClient, url: str, concurrency: int, seconds: float) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while loop.time() < deadline:
            await http.post(url, json=BODY)
            done += 1

    started = loop.time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, done / (loop.time() - started)


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def measure(direct: str, proxy: str, servers: dict[str, psutil.Process], args: argparse.Namespace) -> list[Run]:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    runs: list[Run] = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        for base in (direct, proxy):
            await asyncio.gather(*(http.post(f"{base}/api/chat", json=BODY) for _ in range(WARM_UP_REQUESTS // 10)))
            for _ in range(WARM_UP_REQUESTS):
                await http.post(f"{base}/api/chat", json=BODY)
        for rate in args.rates:
            for name, base in (("direct", direct), ("proxy", proxy)):
                latencies, errors = await open_loop(http, f"{base}/api/chat", rate, args.seconds)
                runs.append(
                    Run(
                        name,
                        rate,
                        len(latencies) + errors,
                        errors,
                        percentile(latencies, 0.5) * 1e3,
                        percentile(latencies, 0.99) * 1e3,
                        len(latencies) / args.seconds,
                    )
                )
        for name, base in (("direct", direct), ("proxy", proxy)):
            cpu_before = cpu_s(servers[name])
            done, per_s = await closed_loop(http, f"{base}/api/chat", args.concurrency, args.seconds)
            cpu_ms = (cpu_s(servers[name]) - cpu_before) / done * 1e3
            runs.append(Run(name, None, done, 0, float("nan"), float("nan"), per_s, cpu_ms))
    return runs


def report(runs: list[Run], args: argparse.Namespace) -> dict[str, object]:
    print(
        f"serve overhead: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, {args.seconds:g} s per run"
    )
    print(f"{'rate':>8} {'target':>7} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")
    added: dict[str, dict[str, float]] = {}
    for rate in args.rates:
        pair = {run.target: run for run in runs if run.rate == rate}
        for run in pair.values():
            print(f"{rate:>8g} {run.target:>7} {run.requests:>9} {run.errors:>7} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f}")
        added[f"{rate:g}"] = {
            "p50_ms": pair["proxy"].p50_ms - pair["direct"].p50_ms,
            "p99_ms": pair["proxy"].p99_ms - pair["direct"].p99_ms,
        }
        print(f"{rate:>8g} {'added':>7} {'':>9} {'':>7} {added[f'{rate:g}']['p50_ms']:>8.2f} {added[f'{rate:g}']['p99_ms']:>8.2f}")
    maximum = {run.target: run.achieved_per_s for run in runs if run.rate is None}
    cpu = {run.target: run.server_cpu_ms_per_request for run in runs if run.rate is None}
    print(f"maximum req/s ({args.concurrency} outstanding): direct {maximum['direct']:.0f}, proxy {maximum['proxy']:.0f}")
    print(f"server CPU per request at maximum: emulator {cpu['direct']:.3f} ms, proxy {cpu['proxy']:.3f} ms")
    at_200 = added.get("200")
    if at_200 is not None:
        met = at_200["p50_ms"] <= GOAL_P50_MS and at_200["p99_ms"] <= GOAL_P99_MS
        print(f"goal at 200 req/s (added p50 <= {GOAL_P50_MS:g} ms, p99 <= {GOAL_P99_MS:g} ms): {'met' if met else 'NOT met'}")
    return {"runs": [asdict(run) for run in runs], "added": added, "max_per_s": maximum, "server_cpu_ms_per_request": cpu}


# -- the two server processes --------------------------------------------------------------------


PARALLEL = 64  # slots on both sides: the bench measures the proxy, not queueing for one slot


async def run_emulator() -> None:
    from zeta_console.demo import zero_latency_fleet_spec
    from zeta_console.sim import run_fleet

    spec = zero_latency_fleet_spec()
    spec = replace(spec, hosts=tuple(replace(host, num_parallel=PARALLEL) for host in spec.hosts))
    async with run_fleet(spec) as fleet:
        print(fleet.host("local").url, flush=True)
        await asyncio.Event().wait()


async def run_proxy(upstream: str) -> None:
    from zeta_console.heap import settle_heap
    from zeta_console.router.router import ZetaDynamicRouter
    from zeta_console.serve.endpoint import start_endpoint
    from zeta_console.settings import HostConfig, Settings

    base = Settings()
    models = tuple(replace(model, slots=PARALLEL) for model in base.models)
    settings = replace(base, hosts=(HostConfig("local", upstream),), models=models)
    async with ZetaDynamicRouter(settings) as router:
        endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
        settle_heap()  # as `zeta-console serve` does
        print(endpoint.url, flush=True)
        await asyncio.Event().wait()


def spawn(*role: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--role", *role], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=lambda text: [float(rate) for rate in text.split(",")], default=[50.0, 200.0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(run_emulator() if args.role[0] == "emulator" else run_proxy(args.role[1]))
        return 0
    emulator, direct = spawn("emulator")
    proxy_process, proxy = spawn("proxy", direct)
    try:
        started = time.perf_counter()
        servers = {"direct": psutil.Process(emulator.pid), "proxy": psutil.Process(proxy_process.pid)}
        runs = asyncio.run(measure(direct, proxy, servers, args))
        result = report(runs, args)
        print(f"(took {time.perf_counter() - started:.0f} s)")
    finally:
        for process in (proxy_process, emulator):
            process.terminate()
            process.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Added latency of `serve`, and of LiteLLM's proxy: the same request to the emulator directly and through each.

    python bench/serve_overhead.py [--seconds 10] [--rates 50,200,400] [--closed-only] [--concurrency 16] [--litellm PATH] [--json OUT]
                                   [--against CHECKOUT] [--rounds N] [--journal]

Processes on this machine: the emulated fleet with zero-latency models, `serve` (router + endpoint)
in front of it, LiteLLM's proxy in front of it too (when found), and this load generator. Each rate
is an open loop: arrivals are paced on a fixed schedule whatever the replies do, and a request's
latency runs from its scheduled start to the end of its reply (so a stalled proxy cannot hide its
queue). The request is a non-streaming chat pinned to the coder model: Ollama's `/api/chat` to the
emulator and to serve, OpenAI's `/v1/chat/completions` to the emulator and to serve (when it has that
route; serve relays it to the emulator's own `/v1`, which, like Ollama's, rewrites into and out of the
native handler) and to LiteLLM (whose `ollama_chat/` provider calls the emulator's `/api/chat`). The
added latency is a target's p50/p99 minus that of the emulator's route it relays to, measured in the
same round: the emulator's `/v1/chat/completions` for serve's `/v1` (the emulator's rewriting is what a
client pays without serve too), its `/api/chat` for the others. Maximum req/s is a closed loop with
`--concurrency` requests always outstanding. CPU per request is the server process's CPU time (user +
system, its children included) over the closed loop divided by the requests it answered: on a small
shared machine it is much steadier than the latencies. `--against` runs a second `serve` from another
checkout (e.g. a worktree of main) beside this one, against the same emulator, as targets of its own
("base serve", "base serve /v1"): a change and its baseline measured in the same run. `--rounds N`
splits each run (each rate's open loop, and the closed loop) into N slices and alternates the targets
slice by slice, pooling each target's latencies, so a machine whose load drifts weighs on every target
alike; with `--against`, each serve's closed-loop CPU per request is also compared with its baseline's
round by round (the quartiles of the per-round ratios: the drift between rounds cancels out).
`--journal`: each serve journals every request to a temporary SQLite file, as `zeta-console serve` with a
configuration does (its writer thread is in serve's process, so in its CPU); without it serve journals nothing,
as `serve --demo` does. With `--against`, the baseline's bench must know the option too.
Goal at 200 req/s: serve adds p50 <= 1 ms, p99 <= 5 ms, CPU <= 0.8 ms per request,
and at most 1/5 of LiteLLM's added latency.

LiteLLM's proxy is not a dependency (`litellm[proxy]` pins rich 13, which changes Textual's
rendering): give its `litellm` command with `--litellm`, or make a venv of its own, e.g.
`python -m venv ~/litellm-venv && ~/litellm-venv/bin/pip install 'litellm[proxy]'`; the default
looks in /work/litellm-venv, ~/litellm-venv and on PATH. Without it the run says so and skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

WARM_UP_REQUESTS = 300
JOURNALLED = "journalled"  # the proxy role's word for --journal, and its answer that it journals
GOAL_P50_MS, GOAL_P99_MS, GOAL_CPU_MS, GOAL_SHARE_OF_LITELLM = 1.0, 5.0, 0.8, 0.2
MODEL = "qwen2.5-coder:7b"
PROMPT = [{"role": "user", "content": "hello"}]
OLLAMA_BODY = {"model": MODEL, "messages": PROMPT, "stream": False, "options": {"num_predict": 8}}
OPENAI_BODY = {"model": MODEL, "messages": PROMPT, "stream": False, "max_tokens": 8}
LITELLM_KEY = "sk-zeta-bench"
LITELLM_CANDIDATES = ("/work/litellm-venv/bin/litellm", str(Path.home() / "litellm-venv/bin/litellm"))


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: dict[str, Any]
    process: psutil.Process
    headers: dict[str, str] | None = None
    baseline: str = "emulator"  # the direct target whose latency this one's "added" is measured against


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
    cpu_ms_per_round: tuple[float, ...] = ()  # the closed loop's CPU per request in each of its `--rounds` slices


def percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def post(http: httpx.AsyncClient, target: Target) -> bool:
    try:
        response = await http.post(target.url, json=target.body, headers=target.headers)
    except httpx.HTTPError:  # an overloaded server may close connections: counted as an error
        return False
    return response.status_code == 200


async def open_loop(http: httpx.AsyncClient, target: Target, rate: float, seconds: float) -> tuple[list[float], int]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        if await post(http, target):
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


async def closed_loop(http: httpx.AsyncClient, target: Target, concurrency: int, seconds: float) -> int:
    """Requests answered in `seconds` with `concurrency` always outstanding."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while loop.time() < deadline:
            answered = await post(http, target)  # not `done += await ...`: that reads `done` before the await
            done += answered

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def settled(process: psutil.Process, limit_s: float = 60.0) -> None:
    """Wait until a server has worked off what an overloaded run left it (LiteLLM keeps serving
    requests its clients gave up on), so that it does not slow the next target's run."""
    deadline = time.monotonic() + limit_s
    before = cpu_s(process)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = cpu_s(process)
        if now - before < 0.05:  # under 10 % of a core
            return
        before = now


def cpu_s(process: psutil.Process) -> float:
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def client() -> httpx.AsyncClient:
    """A fresh client per run: httpcore walks every pooled connection on each request, so a pool
    grown by a fast run (hundreds of connections at 400 req/s) would make the load generator, not
    the server, the bottleneck of the runs after it."""
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=512, max_keepalive_connections=512), timeout=30)


async def measure(targets: list[Target], args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    for target in targets:
        async with client() as http:
            await asyncio.gather(*(post(http, target) for _ in range(WARM_UP_REQUESTS // 10)))
            for _ in range(WARM_UP_REQUESTS):
                await post(http, target)
    for rate in args.rates:
        latencies: dict[str, list[float]] = {target.name: [] for target in targets}
        errors = dict.fromkeys(latencies, 0)
        for _ in range(args.rounds):
            for target in targets:
                async with client() as http:
                    slice_latencies, slice_errors = await open_loop(http, target, rate, args.seconds / args.rounds)
                await settled(target.process)
                latencies[target.name] += slice_latencies
                errors[target.name] += slice_errors
        for name, samples in latencies.items():
            p50, p99 = percentile(samples, 0.5) * 1e3, percentile(samples, 0.99) * 1e3
            runs.append(Run(name, rate, len(samples) + errors[name], errors[name], p50, p99, len(samples) / args.seconds))
    answered = dict.fromkeys((target.name for target in targets), 0)
    cpu = dict.fromkeys(answered, 0.0)
    per_round: dict[str, list[float]] = {name: [] for name in answered}
    for _ in range(args.rounds):
        for target in targets:
            async with client() as http:
                cpu_before = cpu_s(target.process)
                done = await closed_loop(http, target, args.concurrency, args.seconds / args.rounds)
                used = cpu_s(target.process) - cpu_before
            answered[target.name] += done
            cpu[target.name] += used
            per_round[target.name].append(used / max(1, done) * 1e3)
    for name, done in answered.items():
        cpu_ms = cpu[name] / max(1, done) * 1e3
        runs.append(Run(name, None, done, 0, float("nan"), float("nan"), done / args.seconds, cpu_ms, tuple(per_round[name])))
    return runs


def report(runs: list[Run], targets: list[Target], args: argparse.Namespace) -> dict[str, object]:
    load = os.getloadavg()
    print(
        f"serve overhead: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" {args.seconds:g} s per run, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )
    names = [target.name for target in targets]
    direct = {target.name for target in targets if target.name.startswith("emulator")}
    columns = f"{'rate':>6} {'target':>14} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{columns} {'added p50':>10} {'added p99':>10}  against")
    added: dict[str, dict[str, dict[str, float]]] = {}
    for rate in args.rates:
        by_target = {run.target: run for run in runs if run.rate == rate}
        added[f"{rate:g}"] = {}
        for target in targets:
            run = by_target[target.name]
            shown = ""
            if target.name not in direct:
                baseline = by_target[target.baseline]
                extra = added[f"{rate:g}"][target.name] = {"p50_ms": run.p50_ms - baseline.p50_ms, "p99_ms": run.p99_ms - baseline.p99_ms}
                shown = f"{extra['p50_ms']:>10.2f} {extra['p99_ms']:>10.2f}  {target.baseline}"
            print(f"{rate:>6g} {target.name:>14} {run.requests:>9} {run.errors:>7} {run.p50_ms:>8.2f} {run.p99_ms:>8.2f} {shown}")
    maximum = {run.target: run.achieved_per_s for run in runs if run.rate is None}
    cpu = {run.target: run.server_cpu_ms_per_request for run in runs if run.rate is None}
    print(f"closed loop ({args.concurrency} outstanding), per target: maximum req/s, server CPU ms per request")
    for name in names:
        print(f"{'':>6} {name:>14} {maximum[name]:>9.0f} {cpu[name]:>9.3f}")
    paired = paired_cpu_ratios(runs)
    for name, (low, median, high) in paired.items():
        print(f"CPU per request, {name} / base {name}, per round ({args.rounds}): median {median:.3f}, quartiles {low:.3f}-{high:.3f}")
    at_200 = added.get("200", {})
    for name in (name for name in names if name.startswith("serve")):
        if name not in at_200:
            continue
        verdict = [
            f"p50 {'ok' if at_200[name]['p50_ms'] <= GOAL_P50_MS else 'NOT met'}",
            f"p99 {'ok' if at_200[name]['p99_ms'] <= GOAL_P99_MS else 'NOT met'}",
            f"CPU {'ok' if cpu[name] <= GOAL_CPU_MS else 'NOT met'}",
        ]
        if "litellm" in at_200:
            share = at_200[name]["p50_ms"] / at_200["litellm"]["p50_ms"] if at_200["litellm"]["p50_ms"] > 0 else float("nan")
            verdict.append(f"{share:.2f} of LiteLLM's added p50 ({'ok' if share <= GOAL_SHARE_OF_LITELLM else 'NOT met'})")
        print(f"goal at 200 req/s for {name}: " + ", ".join(verdict))
    return {
        "runs": [asdict(run) for run in runs], "added": added, "max_per_s": maximum, "server_cpu_ms_per_request": cpu,
        "paired_cpu_ratio": paired, "load": load,
    }  # fmt: skip


def paired_cpu_ratios(runs: list[Run]) -> dict[str, tuple[float, float, float]]:
    """Each serve target's closed-loop CPU per request over its baseline's (`--against`) in the same round, as the
    quartiles of the per-round ratios: a round's two slices are seconds apart, so the machine's drift between rounds
    (other processes, its speed) cancels out, which the pooled totals leave in."""
    closed = {run.target: run.cpu_ms_per_round for run in runs if run.rate is None}
    ratios: dict[str, tuple[float, float, float]] = {}
    for name, rounds in closed.items():
        base = closed.get(f"base {name}")
        if not base or len(base) != len(rounds) or len(rounds) < 2:
            continue
        quartiles = statistics.quantiles([ours / theirs for ours, theirs in zip(rounds, base, strict=True) if theirs > 0], n=4)
        ratios[name] = (quartiles[0], quartiles[1], quartiles[2])
    return ratios


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


async def run_proxy(upstream: str, journalled: bool) -> None:
    from zeta_console.composition import build_router
    from zeta_console.heap import settle_heap
    from zeta_console.journal import Journal
    from zeta_console.serve.cli import GC_YOUNG_THRESHOLD
    from zeta_console.serve.endpoint import start_endpoint
    from zeta_console.settings import HostConfig, Settings

    base = Settings()
    models = tuple(replace(model, slots=PARALLEL) for model in base.models)
    settings = replace(base, hosts=(HostConfig("local", upstream),), models=models)
    stopped = asyncio.Event()  # on SIGTERM (the bench's end), so that the journal and its temporary directory are closed
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    with (
        tempfile.TemporaryDirectory() as directory,
        Journal(Path(directory) / "journal.sqlite3") if journalled else nullcontext() as journal,
    ):
        async with build_router(settings, journal=journal) as router:
            endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
            settle_heap(young_threshold=GC_YOUNG_THRESHOLD)  # as `zeta-console serve` does
            print(endpoint.url, JOURNALLED if journalled else "", flush=True)
            await stopped.wait()
            await endpoint.stop()


THIS_CHECKOUT = Path(__file__).resolve().parent.parent


def spawn(*role: str, checkout: Path = THIS_CHECKOUT) -> tuple[subprocess.Popen[str], str]:
    """One of this bench's server roles, run from `checkout`'s code (its own bench script and package)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(checkout), os.environ.get("PYTHONPATH"))))}
    command = [sys.executable, str(checkout / "bench" / "serve_overhead.py"), "--role", *role]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=checkout, env=env)
    assert process.stdout is not None
    url, _, mark = process.stdout.readline().strip().partition(" ")
    if JOURNALLED in role and mark != JOURNALLED:
        process.terminate()
        raise SystemExit(f"{checkout}'s bench/serve_overhead.py cannot journal its serve: leave out --journal or --against")
    return process, url


def find_litellm(given: str | None) -> str | None:
    if given:
        return given
    return next((path for path in LITELLM_CANDIDATES if os.access(path, os.X_OK)), None) or shutil.which("litellm")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_litellm(command: str, upstream: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """LiteLLM's proxy with one model, the emulator's coder through its `ollama_chat/` provider."""
    config = workdir / "litellm.yaml"
    model = {"model_name": MODEL, "litellm_params": {"model": f"ollama_chat/{MODEL}", "api_base": upstream}}
    config.write_text(json.dumps({"model_list": [model], "general_settings": {"master_key": LITELLM_KEY}}))  # JSON is YAML
    port = free_port()
    # Offline: the bundled model-cost map, no telemetry; its log to a file, not this terminal.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
    log = (workdir / "litellm.log").open("wb")
    process = subprocess.Popen(
        [command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"LiteLLM's proxy exited at start ({workdir / 'litellm.log'}): {command}")
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"LiteLLM's proxy did not answer within 120 s ({workdir / 'litellm.log'})")


def serves_openai(proxy: str) -> bool:
    try:
        return httpx.post(f"{proxy}/v1/chat/completions", json=OPENAI_BODY, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=lambda text: [float(rate) for rate in text.split(",")], default=[50.0, 200.0, 400.0])
    parser.add_argument("--closed-only", action="store_true", help="only the closed loop: maximum req/s and CPU per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--litellm", metavar="PATH", help="LiteLLM's `litellm` command (litellm[proxy] in a venv of its own)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM's proxy out")
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--against", metavar="CHECKOUT", type=Path, help="also measure the serve of this checkout (the baseline)")
    parser.add_argument("--rounds", type=int, default=1, help="closed loop: alternate the targets in this many slices")
    parser.add_argument("--journal", action="store_true", help="each serve journals every request, as a configured serve does")
    parser.add_argument("--role", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(run_emulator() if args.role[0] == "emulator" else run_proxy(args.role[1], JOURNALLED in args.role[2:]))
        return 0
    emulator, direct = spawn("emulator")
    proxy_role = ("proxy", direct, JOURNALLED) if args.journal else ("proxy", direct)
    proxy_process, proxy = spawn(*proxy_role)
    processes: list[subprocess.Popen[Any]] = [proxy_process, emulator]
    workdir = Path(tempfile.mkdtemp(prefix="serve-overhead-"))
    try:
        emulator_v1 = Target("emulator /v1", f"{direct}/v1/chat/completions", OPENAI_BODY, psutil.Process(emulator.pid))
        targets = [
            Target("emulator", f"{direct}/api/chat", OLLAMA_BODY, psutil.Process(emulator.pid)),
            emulator_v1,
            Target("serve", f"{proxy}/api/chat", OLLAMA_BODY, psutil.Process(proxy_process.pid)),
        ]
        if serves_openai(proxy):
            proxy_ps = psutil.Process(proxy_process.pid)
            targets.append(Target("serve /v1", f"{proxy}/v1/chat/completions", OPENAI_BODY, proxy_ps, baseline=emulator_v1.name))
        else:
            print("serve has no /v1/chat/completions here: its OpenAI route is left out")
        if args.against is not None:
            base_process, base = spawn(*proxy_role, checkout=args.against.resolve())
            processes.insert(0, base_process)
            targets.append(Target("base serve", f"{base}/api/chat", OLLAMA_BODY, psutil.Process(base_process.pid)))
            if serves_openai(base):
                base_ps = psutil.Process(base_process.pid)
                targets.append(Target("base serve /v1", f"{base}/v1/chat/completions", OPENAI_BODY, base_ps, baseline=emulator_v1.name))
        litellm = None if args.no_litellm else find_litellm(args.litellm)
        if litellm is not None:
            litellm_process, litellm_url = spawn_litellm(litellm, direct, workdir)
            processes.insert(0, litellm_process)
            headers = {"Authorization": f"Bearer {LITELLM_KEY}"}
            targets.append(
                Target("litellm", f"{litellm_url}/v1/chat/completions", OPENAI_BODY, psutil.Process(litellm_process.pid), headers)
            )
        elif not args.no_litellm:
            print("LiteLLM's proxy not found (--litellm PATH; see this script's docstring to make its venv): left out")
        started = time.perf_counter()
        if args.closed_only:
            args.rates = []
        runs = asyncio.run(measure(targets, args))
        result = report(runs, targets, args)
        print(f"(took {time.perf_counter() - started:.0f} s)")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

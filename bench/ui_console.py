"""Console benchmarks against the real `zeta-console --demo` binary in tmux (not part of pytest).

    python bench/ui_console.py [--rate 200] [--soak-s 300] [--presses 40]

Measures: start to first frame (the real binary); key press -> screen update (p95) with the
load generator at `--rate` requests/s, twice: with the emulated fleet in the console's process
(`--demo`) and, as an operator runs it, with the fleet in another process (`zeta-console sim` on a
free port, the console pointed at it by its config); idle CPU with the load generator at 0; RSS
and CPU over a soak at `--rate`. Real-time emulated models cannot serve 200 requests/s, so the
loaded runs use the same console code path with the fleet `--time-scale` times faster. Needs
tmux. Each run gets its own working directory with a config.yaml that sets the load rate.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

BINARY = str(Path(sys.executable).with_name("zeta-console"))
SCALED = (
    f"{sys.executable} -c 'import asyncio; from zeta_console.config import load_settings; "
    "from zeta_console.ui.launch import ConsoleOptions, run_console; "
    "asyncio.run(run_console(load_settings(None), ConsoleOptions({options})))'"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator(time_scale: float) -> Iterator[str]:
    """`zeta-console sim` (the default fleet, one host) in its own process; yield its URL."""
    port = free_port()
    process = subprocess.Popen([BINARY, "sim", "--port", str(port), "--time-scale", str(time_scale)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        process.stdout.readline()  # "simulated Ollama host 'local' listening on ..."
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


@contextmanager
def console(
    rate: float, time_scale: float = 1.0, fleet_url: str | None = None, size: tuple[int, int] = (160, 48)
) -> Iterator[tuple[str, float, psutil.Process]]:
    """Start the console in a fresh tmux session; yield (session, start time, process).

    Without `fleet_url` it is `--demo` (fleet in-process); with it, a normal console whose only
    host is that URL, with the load generator on.
    """
    workdir = Path(tempfile.mkdtemp(prefix="zeta-bench-"))
    hosts = f"hosts:\n  - name: local\n    url: {fleet_url}\n" if fleet_url else ""
    (workdir / "config.yaml").write_text(f"{hosts}load_generator:\n  rate_per_s: {rate}\n")
    session = f"zeta-bench-{workdir.name}"  # unique: a killed session's name may linger briefly
    env = f"XDG_CONFIG_HOME={workdir}/cfg XDG_STATE_HOME={workdir}/state"
    started = time.perf_counter()
    if fleet_url:
        command = SCALED.format(options="load_generator=True")
    elif time_scale != 1.0:
        command = SCALED.format(options=f"demo=True, time_scale={time_scale}")
    else:
        command = f"{BINARY} --demo"
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]), f"cd {workdir} && {env} exec {command}")
    try:
        pid = int(tmux("list-panes", "-t", session, "-F", "#{pane_pid}").strip())
        yield session, started, psutil.Process(pid)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for(session: str, predicate: Callable[[str], bool], timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate(screen(session)):
            return time.perf_counter()
        time.sleep(0.002)
    raise TimeoutError("screen never matched")


def first_frame() -> float:
    with console(rate=0) as (session, started, _):
        return wait_for(session, lambda text: "SIMULATED" in text) - started


def header_rate(text: str) -> str:
    return next((part.strip() for part in text.splitlines()[0].split("·") if "req/s" in part), "?")


def key_latency(rate: float, time_scale: float, presses: int, fleet_url: str | None = None) -> tuple[list[float], str]:
    """F5 toggles the PAUSED badge: time from send-keys to the badge's change on screen."""
    samples: list[float] = []
    with console(rate, time_scale, fleet_url) as (session, _, _):
        wait_for(session, lambda text: "ZETA" in text)
        time.sleep(5)  # let the load build up
        for index in range(presses):
            paused = index % 2 == 0
            sent = time.perf_counter()
            tmux("send-keys", "-t", session, "F5")
            seen = wait_for(session, lambda text, paused=paused: ("PAUSED" in text) == paused)
            samples.append(seen - sent)
            time.sleep(0.15)
        return samples, header_rate(screen(session))


def idle_cpu(seconds: float) -> float:
    with console(rate=0) as (session, _, process):
        wait_for(session, lambda text: "SIMULATED" in text)
        time.sleep(3)
        process.cpu_percent(None)
        time.sleep(seconds)
        return process.cpu_percent(None)


def soak(rate: float, time_scale: float, seconds: float, every: float = 10.0) -> list[tuple[float, float, float]]:
    """(elapsed s, RSS MB, CPU %) samples while the load generator runs at `rate`."""
    samples = []
    with console(rate, time_scale) as (session, started, process):
        wait_for(session, lambda text: "SIMULATED" in text)
        process.cpu_percent(None)
        while (elapsed := time.perf_counter() - started) < seconds:
            time.sleep(every)
            samples.append((round(elapsed), process.memory_info().rss / 2**20, process.cpu_percent(None)))
        print(f"  header at the end: {header_rate(screen(session))}")
    return samples


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def report_key_latency(label: str, latencies: list[float], rate_seen: str, rate: float) -> None:
    """All presses, then pause (even presses) and resume (odd presses, which re-render the log) apart."""
    print(f"key -> screen at {rate:g}/s, {label} (header: {rate_seen}): {percentiles(latencies)}")
    print(f"  pause: {percentiles(latencies[::2])}; resume: {percentiles(latencies[1::2])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--time-scale", type=float, default=50.0)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--soak-s", type=float, default=300.0)
    parser.add_argument("--only-keys", action="store_true", help="measure key latency only (both fleets)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is required", file=sys.stderr)
        return 2
    if not args.only_keys:
        frames = [first_frame() for _ in range(3)]
        print(
            f"start to first frame: median {statistics.median(frames) * 1000:.0f} ms (runs: {', '.join(f'{f * 1000:.0f}' for f in frames)})"
        )
    report_key_latency("fleet in-process (--demo)", *key_latency(args.rate, args.time_scale, args.presses), args.rate)
    with emulator(args.time_scale) as url:
        report_key_latency(
            "fleet out of process (zeta-console sim)", *key_latency(args.rate, args.time_scale, args.presses, url), args.rate
        )
    if args.only_keys:
        return 0
    print(f"idle CPU (load 0, {args.idle_s:g} s): {idle_cpu(args.idle_s):.1f} %")
    samples = soak(args.rate, args.time_scale, args.soak_s)
    for elapsed, rss, cpu in samples:
        print(f"  t={elapsed:>5}s  RSS {rss:6.1f} MB  CPU {cpu:5.1f} %")
    half = len(samples) // 2
    if half:
        first, second = statistics.mean(s[1] for s in samples[:half]), statistics.mean(s[1] for s in samples[half:])
        print(
            f"soak {args.soak_s:g} s at {args.rate:g}/s: RSS end {samples[-1][1]:.1f} MB,"
            f" mean first half {first:.1f} MB, second half {second:.1f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Overload admission: does a client past the fleet's capacity get a fast 503 or a time-out?

    python bench/overload_admission.py [--rate 47] [--duration-s 60] [--warmup-s 10]
                                       [--client-timeout-s 30] [--time-scale 1] [--json]

The demo's load generator (Poisson arrivals, its task mix) drives the router in-process over the
default emulated fleet (`--demo`), through a client that gives up after `--client-timeout-s`, as
an HTTP client's read timeout does. Every request that arrives after the warm-up is classified
by its router record: answered, given up by the client (it waited the whole timeout), shed with
a fast 503 (rejected BUSY), or another error. `--time-scale N` runs the fleet, the router's
durations and the client's timeout N times faster (arrivals N times denser), for quick checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from zeta_console.benchmark.settings_scale import scaled_settings
from zeta_console.demo import demo_fleet
from zeta_console.loadgen import CLIENT, LoadGenerator
from zeta_console.router.api import ErrorKind, Outcome, RequestRecord, RouterEvent
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Task


class GivesUp:
    """The router as a client with a read timeout uses it: a request not done in `timeout_s` is abandoned."""

    def __init__(self, router: ZetaDynamicRouter, timeout_s: float) -> None:
        self._router = router
        self._timeout_s = timeout_s

    @asynccontextmanager
    async def chat(self, request: ChatRequest) -> AsyncIterator[Any]:
        async with asyncio.timeout(self._timeout_s), self._router.chat(request) as stream:
            yield stream

    async def embed(self, request: EmbedRequest) -> Any:
        async with asyncio.timeout(self._timeout_s):
            return await self._router.embed(request)


def percentile(samples: list[float], fraction: float) -> float | None:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))] if ordered else None


def summary(records: list[RequestRecord], timeout_s: float, time_scale: float) -> dict[str, Any]:
    """Outcome shares (of all requests and of chats alone) and how long each kind took, in simulated seconds."""
    def kind(record: RequestRecord) -> str:
        if record.outcome is Outcome.OK:
            return "answered"
        if record.outcome is Outcome.CANCELLED and record.total_s >= 0.98 * timeout_s:
            return "client_timeout"
        if record.outcome is Outcome.REJECTED and record.error_kind is ErrorKind.BUSY:
            return "fast_503" if record.total_s < 0.1 * timeout_s else "slow_503"
        return "other_error"

    kinds = ("answered", "client_timeout", "fast_503", "slow_503", "other_error")
    chats = [r for r in records if r.decision.classification.task is not Task.EMBEDDING]
    out: dict[str, Any] = {"requests": len(records), "chats": len(chats)}
    for label, group in (("all", records), ("chat", chats)):
        counted = dict.fromkeys(kinds, 0)
        for record in group:
            counted[kind(record)] += 1
        out[f"{label}_share"] = {k: round(n / len(group), 4) if group else 0.0 for k, n in counted.items()}
    for k in ("answered", "fast_503"):
        took = [r.total_s * time_scale for r in records if kind(r) == k]
        out[f"{k}_s_p50"] = percentile(took, 0.5)
        out[f"{k}_s_p95"] = percentile(took, 0.95)
    shed = [r.decision.reason for r in records if r.outcome is Outcome.REJECTED]
    out["shed_reasons"] = {key: sum(1 for reason in shed if key in reason) for key in ("admission.max_queued", "admission.patience_s")}
    return out


async def run(rate: float, duration_s: float, warmup_s: float, timeout_s: float, time_scale: float) -> dict[str, Any]:
    async with demo_fleet(time_scale=time_scale) as (_, settings):
        settings = scaled_settings(settings, time_scale)
        events: list[RouterEvent] = []
        async with ZetaDynamicRouter(settings, time_scale=time_scale, seed=1) as router:
            router.subscribe(events.append)
            load = LoadGenerator(GivesUp(router, timeout_s / time_scale), rate * time_scale, seed=1)
            measured_from = time.time() + warmup_s / time_scale
            load.start()
            await asyncio.sleep((warmup_s + duration_s) / time_scale)
            load.set_rate(0.0)
            await asyncio.sleep(1.1 * timeout_s / time_scale)  # by then every request still waiting has given up
            await load.stop()
    records = [e for e in events if isinstance(e, RequestRecord) and e.decision.client == CLIENT and e.started_at >= measured_from]
    result = summary(records, timeout_s / time_scale, time_scale)
    result.update(sent=load.sent, dropped_by_loadgen=load.dropped, admission=asdict(settings.admission))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=47.0, help="arrivals per second (simulated)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="measured seconds of arrivals (simulated)")
    parser.add_argument("--warmup-s", type=float, default=10.0, help="arrivals before this are not counted (simulated)")
    parser.add_argument("--client-timeout-s", type=float, default=30.0, help="the client gives up after this (simulated)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="run the fleet this many times faster")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    result = asyncio.run(run(args.rate, args.duration_s, args.warmup_s, args.client_timeout_s, args.time_scale))
    result["python"] = platform.python_version()
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    print(f"overload admission: {args.rate:g} req/s for {args.duration_s:g} s (+{args.warmup_s:g} s warm-up), "
          f"client timeout {args.client_timeout_s:g} s, time scale {args.time_scale:g}, admission {result['admission']}")
    print(f"requests {result['requests']} (chats {result['chats']}); loadgen sent {result['sent']}, dropped {result['dropped_by_loadgen']}")
    print(f"{'share':<8}" + "".join(f"{k:>16}" for k in result["all_share"]))
    for label in ("all", "chat"):
        print(f"{label:<8}" + "".join(f"{v:>16.1%}" for v in result[f"{label}_share"].values()))
    for k in ("answered", "fast_503"):
        p50, p95 = result[f"{k}_s_p50"], result[f"{k}_s_p95"]
        print(f"{k} took p50 / p95: " + (f"{p50:.3f} / {p95:.3f} s" if p50 is not None else "-"))
    print(f"shed by: {result['shed_reasons']}")


if __name__ == "__main__":
    main()

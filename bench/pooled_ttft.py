"""TTFT percentiles of several `zeta-console bench ... --json` runs, each run alone and all pooled.

    python bench/pooled_ttft.py straggler1.json straggler2.json ... [--hedged adaptive --plain adaptive:no_hedge]

A p99 over one run of `straggler` is its 11th slowest first token of 1,092: a burst or a stall more or
less moves it by a third. Pooling the runs (every request of every run, each contender measured the
same way) puts the p99 over ~5,500 requests. Prints, per run and pooled, each contender's TTFT p50 /
p95 / p99 in scenario seconds, and how much lower the hedged contender's p99 is than the plain one's
(issue 15's straggler goal: at least 40 %).

Where the runs say which requests an emulated host made stragglers (`stalled`), a second line gives the same with
every stalled first token at its run's median, as if a hedge had cost nothing and come at once: when the hedged
contender's p99 is already its stall-free p99, no change to hedging can lower it, and what sets it is queueing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from zeta_console.benchmark.goals import HEDGE_P99_CUT
from zeta_console.benchmark.stats import percentile

STALL_FREE = "every stalled first token at its run's median"


def first_tokens(run: dict[str, Any]) -> list[float]:
    return [request["ttft_s"] for request in answered(run)]


def answered(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [request for request in run["requests"] if request["fate"] == "ok" and request["ttft_s"] is not None]


def without_stalls(run: dict[str, Any]) -> list[float] | None:
    """The run's first tokens with every stalled one at the run's median; None if the run does not say which stalled."""
    requests = answered(run)
    if not requests or any(request.get("stalled") is None for request in requests):
        return None
    median = percentile([request["ttft_s"] for request in requests], 50)
    return [median if request["stalled"] else request["ttft_s"] for request in requests]


def line(label: str, by_contender: dict[str, list[float]], hedged: str, plain: str) -> str:
    cells = []
    for name, samples in by_contender.items():
        p50, p95, p99 = (percentile(samples, p) or 0.0 for p in (50, 95, 99))
        cells.append(f"{name} n={len(samples)} {p50:.2f} / {p95:.2f} / {p99:.2f}")
    ours, theirs = (percentile(by_contender.get(name, []), 99) for name in (hedged, plain))
    if ours is not None and theirs:
        cut = 1.0 - ours / theirs
        cells.append(f"p99 {cut:.0%} lower ({'met' if cut >= HEDGE_P99_CUT else 'missed'})")
    return f"{label}: " + "; ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--hedged", default="adaptive")
    parser.add_argument("--plain", default="adaptive:no_hedge")
    args = parser.parse_args()
    pooled: dict[str, list[float]] = defaultdict(list)
    pooled_unstalled: dict[str, list[float]] | None = defaultdict(list)
    print("TTFT p50 / p95 / p99 (scenario seconds)")
    for path in args.files:
        try:
            document = {run["contender"]: run for run in json.loads(path.read_text())["runs"]}
            runs = {name: first_tokens(run) for name, run in document.items()}
            unstalled = {name: without_stalls(run) for name, run in document.items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"{path}: not a readable `zeta-console bench --json` file: {error}", file=sys.stderr)
            sys.exit(2)
        for name, samples in runs.items():
            pooled[name].extend(samples)
        print(line(path.name, runs, args.hedged, args.plain))
        known = {name: samples for name, samples in unstalled.items() if samples is not None}
        if pooled_unstalled is None or len(known) < len(unstalled):
            pooled_unstalled = None  # a run that does not say which stalled: no stall-free figures
            continue
        for name, samples in known.items():
            pooled_unstalled[name].extend(samples)
        print(line(f"{path.name}, {STALL_FREE}", known, args.hedged, args.plain))
    print(line(f"pooled ({len(args.files)} runs)", pooled, args.hedged, args.plain))
    if pooled_unstalled:
        print(line(f"pooled ({len(args.files)} runs), {STALL_FREE}", pooled_unstalled, args.hedged, args.plain))


if __name__ == "__main__":
    main()

"""Which requests an emulated host made stragglers, per request in a bench run, and what bench/pooled_ttft.py
makes of it: each contender's p99 with every stall at the median, what no change to hedging can go below.

A tiny, time-scaled run: a few seconds of wall time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.benchmark.replay import replay
from zeta_console.benchmark.results import Fate

ROOT = Path(__file__).resolve().parent.parent.parent
POOLED = ROOT / "bench" / "pooled_ttft.py"

HALF_STALLED = """\
description: host a makes every other request a straggler
duration_s: 60
seed: 3
time_scale: 30
fleet:
  hosts:
    - {name: a, tiers: [coder]}
    - {name: b, tiers: [coder]}
traffic:
  - rates_per_s: {code: 0.3}
events:
  - {at_s: 0, action: fault, tier: coder, host: a, straggle_rate: 0.5, straggle_factor: 2}
"""


def test_each_request_says_whether_a_host_made_it_a_straggler(tmp_path: Path) -> None:
    run = replay(tmp_path, HALF_STALLED, ("adaptive:no_hedge",), min_requests=10)["adaptive:no_hedge"]
    served = [result for result in run.results if result.fate is Fate.OK]
    assert len(served) == len(run.results)
    assert all(result.stalled is not None for result in served)
    stalled = [result for result in served if result.stalled]
    assert stalled, "host a was given some requests and straggled about half"
    assert all(result.host == "a" for result in stalled)  # only host a straggles, and without hedging it serves its stalls


def bench_file(path: Path, contenders: dict[str, list[tuple[float, bool | None]]]) -> Path:
    """A `bench --json` document with these first tokens (seconds, stalled) per contender."""

    def requests(samples: list[tuple[float, bool | None]]) -> list[dict[str, Any]]:
        return [{"index": i, "fate": "ok", "ttft_s": ttft, "stalled": stalled} for i, (ttft, stalled) in enumerate(samples)]

    path.write_text(json.dumps({"runs": [{"contender": name, "requests": requests(samples)} for name, samples in contenders.items()]}))
    return path


def pooled(*files: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(POOLED), *map(str, files)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pooled_ttft_gives_each_contenders_p99_with_every_stall_at_the_median(tmp_path: Path) -> None:
    # 100 first tokens of 0.5 s, then queueing at 1.0-1.3 s; the plain side's three stalls (5 s) make its p99 (the 109th of
    # 110, nearest rank), the hedged side's (1.2 s) do not. Without them both p99s are queueing's, 1.25 s.
    normal = [(0.5, False)] * 100 + [(1.0 + i * 0.05, False) for i in range(7)]
    plain = normal + [(5.0, True)] * 3
    hedged = normal + [(1.2, True)] * 3
    text = pooled(bench_file(tmp_path / "one.json", {"adaptive": hedged, "adaptive:no_hedge": plain}))
    stall_free = [line for line in text.splitlines() if "every stalled first token at its run's median" in line]
    assert len(stall_free) == 2, text  # the run, and pooled
    for line in stall_free:
        assert "adaptive n=110 0.50 / 1.05 / 1.25; adaptive:no_hedge n=110 0.50 / 1.05 / 1.25; p99 0% lower" in line, text
    assert text.splitlines()[1].endswith(" / 5.00; p99 75% lower (met)"), text  # as measured, the stalls make the plain p99


def test_pooled_ttft_gives_no_stall_free_figures_for_runs_that_do_not_say_which_stalled(tmp_path: Path) -> None:
    samples = [(0.5, None)] * 50
    text = pooled(bench_file(tmp_path / "old.json", {"adaptive": samples, "adaptive:no_hedge": samples}))
    assert "pooled (1 runs)" in text and "every stalled first token" not in text

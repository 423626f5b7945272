"""The oracle, which reads the emulator's true state, never loses on a trivial scenario.

Trivial: the reasoner is 10x slower from the start and the coder idles, so sending complex
reasoning to the coder is plainly right. A static table cannot keep up and loses requests, so
each request is scored by how long its client waited for the first token, a lost one until the
run's deadline. A tiny, time-scaled run: a few seconds of wall time.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmark.replay import replay
from zeta_console.benchmark.contenders import DRAIN_FACTOR
from zeta_console.benchmark.results import ContenderRun, Fate

TRIVIAL = """\
description: the reasoner is 10x slower from the start; the coder idles
duration_s: 24
seed: 1
time_scale: 30
fleet:
  hosts:
    - {name: local, tiers: [coder, reasoner]}
sizes:
  complex_reasoning: {prompt_tokens: [400, 800], output_tokens: [20, 40]}
traffic:
  - rates_per_s: {complex_reasoning: 0.4}
events:
  - {at_s: 0, action: fault, tier: reasoner, slow_factor: 10}
"""
# Scheduling noise on a shared machine, in scenario seconds (5 ms of wall time at time_scale 30).
NOISE_S = 0.15


def mean_wait_s(run: ContenderRun) -> float:
    """Mean wait for the first token; a request never answered waited until the deadline."""
    deadline_s = run.duration_s * (1 + DRAIN_FACTOR)
    waits = [r.ttft_s if r.fate is Fate.OK and r.ttft_s is not None else deadline_s - r.at_s for r in run.results]
    return sum(waits) / len(waits)


def test_oracle_never_loses_on_a_trivial_scenario(tmp_path: Path) -> None:
    runs = replay(tmp_path, TRIVIAL, ("oracle", "static", "round_robin", "adaptive"), min_requests=5)
    wait = {name: mean_wait_s(run) for name, run in runs.items()}
    assert all(r.fate is Fate.OK for r in runs["oracle"].results), "the oracle answers every request"
    for name, value in wait.items():
        assert wait["oracle"] <= value * 1.05 + NOISE_S, f"oracle {wait['oracle']:.2f} s lost to {name} {value:.2f} s: {wait}"
    assert wait["oracle"] < wait["static"] / 2  # and the scenario really separates them

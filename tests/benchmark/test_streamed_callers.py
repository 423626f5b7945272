"""`<policy>:streamed`: the same trace with callers that read a stream, so adaptive ranks by what a reader waits for.

With the coder and the reasoner both idle (requests ~17 s apart, answers of ~8 s), a program waiting for the
whole answer is better served by the coder (the reasoner's answer carries its thinking), a reader by the
reasoner (the preferred tier, whose first token is as quick and whose stream keeps ahead of reading).
A tiny, time-scaled run: a few seconds of wall time.
"""

from __future__ import annotations

from pathlib import Path

from tests.benchmark.replay import replay
from zeta_console.benchmark.contenders import known_contenders
from zeta_console.benchmark.results import ContenderRun, Fate

IDLE_PAIR = """\
description: complex reasoning one at a time, well apart
duration_s: 150
seed: 4
time_scale: 30
fleet:
  hosts:
    - {name: local, tiers: [coder, reasoner]}
traffic:
  - rates_per_s: {complex_reasoning: 0.06}
"""


def on_reasoner(run: ContenderRun) -> float:
    served = [r for r in run.results if r.fate is Fate.OK]
    assert len(served) == len(run.results), "every request answered"
    return sum(r.tier == "reasoner" for r in served) / len(served)


def test_streamed_callers_are_ranked_as_readers_and_whole_answer_callers_by_completion(tmp_path: Path) -> None:
    assert "adaptive:streamed" in known_contenders()
    runs = replay(tmp_path, IDLE_PAIR, ("adaptive", "adaptive:streamed"), min_requests=5)
    whole, streamed = runs["adaptive"], runs["adaptive:streamed"]
    assert streamed.contender == "adaptive:streamed"
    # Poisson gaps sometimes find the reasoner still answering; a reader then starts on the coder.
    routed = f"streamed {[r.tier for r in streamed.results]}, whole {[r.tier for r in whole.results]}"
    assert on_reasoner(streamed) >= on_reasoner(whole) + 0.3, routed

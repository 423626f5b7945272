"""Seeded arrival traces: Poisson arrivals per task type, with prompt and output sizes.

A trace is a pure function of its spec and seed, so every contender in a benchmark run (each
policy, LiteLLM) is replayed against exactly the same requests at the same instants.
Times are scenario seconds; the runner divides them by the emulator's time scale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from zeta_console.settings import Task


@dataclass(frozen=True)
class TokenRange:
    """Sizes are drawn log-uniformly between `low` and `high` (inclusive)."""

    low: int
    high: int

    def draw(self, rng: random.Random) -> int:
        if self.low == self.high:
            return self.low
        return round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class TaskSizes:
    prompt_tokens: TokenRange
    output_tokens: TokenRange


DEFAULT_SIZES: Mapping[Task, TaskSizes] = {
    Task.SIMPLE: TaskSizes(TokenRange(20, 120), TokenRange(30, 200)),
    Task.CODE: TaskSizes(TokenRange(100, 800), TokenRange(100, 500)),
    Task.COMPLEX_REASONING: TaskSizes(TokenRange(100, 600), TokenRange(200, 600)),
    Task.EMBEDDING: TaskSizes(TokenRange(20, 400), TokenRange(0, 0)),
}


@dataclass(frozen=True)
class TrafficPhase:
    """Between `start_s` and `end_s`, each task arrives as a Poisson process of its rate."""

    start_s: float
    end_s: float
    rates_per_s: Mapping[Task, float]


@dataclass(frozen=True)
class TraceRequest:
    index: int  # position in arrival order
    at_s: float  # scenario seconds since the start
    task: Task
    prompt_tokens: int
    output_tokens: int

    @property
    def request_id(self) -> str:
        return f"bench-{self.index:05d}"


def generate_trace(
    phases: tuple[TrafficPhase, ...],
    seed: int,
    sizes: Mapping[Task, TaskSizes] = DEFAULT_SIZES,
) -> tuple[TraceRequest, ...]:
    rng = random.Random(seed)
    arrivals: list[tuple[float, Task, int, int]] = []
    for phase in phases:
        for task in sorted(phase.rates_per_s):  # fixed order: the draws must not depend on dict order
            rate = phase.rates_per_s[task]
            if rate <= 0:
                continue
            at = phase.start_s + rng.expovariate(rate)
            while at < phase.end_s:
                task_sizes = sizes[task]
                arrivals.append((at, task, task_sizes.prompt_tokens.draw(rng), task_sizes.output_tokens.draw(rng)))
                at += rng.expovariate(rate)
    arrivals.sort(key=lambda arrival: arrival[0])
    return tuple(
        TraceRequest(index, round(at, 6), task, prompt_tokens, output_tokens)
        for index, (at, task, prompt_tokens, output_tokens) in enumerate(arrivals)
    )

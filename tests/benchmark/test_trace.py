"""The same seed gives the same trace; arrivals follow the phases' rates."""

from __future__ import annotations

from zeta_console.benchmark.trace import TrafficPhase, generate_trace
from zeta_console.settings import Task

PHASES = (
    TrafficPhase(0, 600, {Task.SIMPLE: 0.5, Task.CODE: 0.2}),
    TrafficPhase(100, 200, {Task.COMPLEX_REASONING: 1.0}),
)


def test_same_seed_same_trace() -> None:
    assert generate_trace(PHASES, seed=7) == generate_trace(PHASES, seed=7)


def test_other_seed_other_trace() -> None:
    assert generate_trace(PHASES, seed=7) != generate_trace(PHASES, seed=8)


def test_arrivals_are_ordered_and_stay_inside_their_phase() -> None:
    trace = generate_trace(PHASES, seed=3)
    assert [request.at_s for request in trace] == sorted(request.at_s for request in trace)
    assert [request.index for request in trace] == list(range(len(trace)))
    reasoning = [request for request in trace if request.task is Task.COMPLEX_REASONING]
    assert all(100 <= request.at_s < 200 for request in reasoning)


def test_counts_are_near_rate_times_duration() -> None:
    trace = generate_trace(PHASES, seed=11)
    simple = sum(request.task is Task.SIMPLE for request in trace)
    assert 300 * 0.8 < simple < 300 * 1.2  # expected 0.5/s x 600 s; Poisson sd ~ 17


def test_sizes_stay_within_their_ranges() -> None:
    for request in generate_trace(PHASES, seed=5):
        if request.task is Task.SIMPLE:
            assert 20 <= request.prompt_tokens <= 120
            assert 30 <= request.output_tokens <= 200

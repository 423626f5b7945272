"""The same seed gives the same trace; arrivals follow the phases' rates."""

from __future__ import annotations

from zeta_console.benchmark.scenarios import load_scenario
from zeta_console.benchmark.trace import TraceRequest, TrafficPhase, generate_trace
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


def test_each_later_turn_of_a_chat_follows_its_previous_turn() -> None:
    scenario = load_scenario("conversations")
    assert scenario.conversations is not None
    trace = generate_trace(scenario.traffic, scenario.seed, scenario.sizes, scenario.conversations)
    assert trace == generate_trace(scenario.traffic, scenario.seed, scenario.sizes, scenario.conversations)
    chats: dict[int, list[TraceRequest]] = {}
    for request in trace:
        assert request.conversation is not None
        chats.setdefault(request.conversation, []).append(request)
    assert len(chats) == scenario.conversations.count
    for turns in chats.values():
        assert [turn.turn for turn in turns] == list(range(len(turns)))
        assert 8 <= len(turns) <= 12
        assert turns[0].follows is None and turns[0].system_tokens >= 1000 and turns[0].at_s <= 400
        for previous, turn in zip(turns, turns[1:], strict=False):
            assert turn.follows == previous.index and 10 <= turn.think_s <= 30 and turn.system_tokens == 0
        # the context grows to ~8k tokens: the system prompt, every question and every answer
        context = turns[0].system_tokens + sum(turn.prompt_tokens + turn.output_tokens for turn in turns)
        assert 4000 < context < 14000

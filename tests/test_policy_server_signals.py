"""Every policy counts a server's own running and waiting requests in place of the router's
in-flight estimate where the server reports them (llama.cpp, vLLM, SGLang), and its reason says
so; without them (Ollama) the router's own count decides, as before."""

from __future__ import annotations

import pytest

from tests.policy_fixtures import decision_input, endpoint
from zeta_console.backends.types import QueueSignals
from zeta_console.router.policies import POLICIES, make_policy
from zeta_console.router.policies.adaptive import is_saturated
from zeta_console.router.policies.base import outstanding, predicted_wait_s, queue_estimate
from zeta_console.router.view import combined_queue
from zeta_console.settings import Adaptive, Settings, Task, Thresholds

NO_EXPLORE = Settings(adaptive=Adaptive(explore_rate=0.0))

# Two replicas of one tier, both idle in the router's own count; a@gpu1's server reports one running
# and two deferred (other clients fill it), b@gpu2's server is idle.
DEFERRED = endpoint("coder", "gpu1", server_running=1, server_waiting=2, server_slots=1)
IDLE = endpoint("coder", "gpu2", server_running=0, server_waiting=0, server_slots=1)


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("order", [(DEFERRED, IDLE), (IDLE, DEFERRED)], ids=["busy first", "idle first"])
def test_new_work_moves_away_from_a_server_with_deferred_requests(policy: str, order: tuple) -> None:  # type: ignore[type-arg]
    settings = Settings(adaptive=Adaptive(explore_rate=0.0), thresholds=Thresholds(queue=1))
    for seed in range(10):  # ties would be broken at random: there must be none
        result = make_policy(policy, settings).decide(decision_input(order, Task.CODE, seed=seed))
        assert result.chosen == "coder@gpu2", result.reason
        assert not result.wait


@pytest.mark.parametrize("policy", ["least_load", "adaptive"])
def test_the_reason_names_the_servers_own_queue(policy: str) -> None:
    result = make_policy(policy, NO_EXPLORE).decide(decision_input((DEFERRED, IDLE), Task.CODE))
    assert "coder@gpu1 server 1/1 busy, 2 waiting" in result.reason
    assert "coder@gpu2 server 0/1 busy, 0 waiting" in result.reason


def test_threshold_says_the_queue_it_fled_is_the_servers() -> None:
    result = make_policy("threshold", NO_EXPLORE).decide(
        decision_input(
            (endpoint("reasoner", server_running=1, server_waiting=5, server_slots=1), endpoint("coder")), Task.COMPLEX_REASONING
        )
    )
    assert result.chosen == "coder@local"
    assert "reasoner@local queue 5 > 4 (server 1/1 busy, 5 waiting)" in result.reason


def test_without_server_figures_the_routers_own_count_decides() -> None:
    ollama = endpoint("coder", "a", slots=2, in_flight=3, queued=1)
    assert outstanding(ollama) == 4
    assert queue_estimate(ollama) == 2  # one in the router's queue, one beyond Ollama's slots
    assert "server" not in make_policy("least_load", NO_EXPLORE).decide(decision_input((ollama,), Task.CODE)).reason


def test_server_figures_replace_the_routers_in_flight_and_slots() -> None:
    # vLLM runs 30 at once: 30 running and nothing waiting is not a queue, whatever slots says.
    vllm = endpoint("coder", slots=1, in_flight=2, server_running=30, server_waiting=0, server_slots=30, latency_ewma_s=3.0)
    assert (outstanding(vllm), queue_estimate(vllm)) == (30, 0)
    assert predicted_wait_s((vllm,)) == pytest.approx(1 * 3.0 / 30)
    assert not is_saturated(vllm)
    assert is_saturated(endpoint("coder", server_running=1, server_waiting=5, server_slots=1))


@pytest.mark.parametrize(
    ("case", "signals", "own_at", "own_now", "slots", "expected"),
    [
        ("the reading as it was", QueueSignals(running=1, waiting=2, slots=1), 0, 0, 1, (1, 2, 1)),
        ("plus what the router sent since", QueueSignals(running=1, waiting=2, slots=1), 0, 1, 1, (1, 3, 1)),
        ("less what the router's own requests finished since", QueueSignals(running=1, waiting=2, slots=1), 2, 1, 1, (1, 1, 1)),
        ("never fewer than the router's own in flight (the gauge lags)", QueueSignals(running=0, waiting=0, slots=2), 0, 2, 2, (2, 0, 2)),
        ("waiting unknown: a lower bound, not idle", QueueSignals(running=2, waiting=None, slots=2), 0, 0, 2, (2, 0, 2)),
        ("no slot count, nothing queued: all of it runs", QueueSignals(running=30, waiting=0), 0, 2, 1, (32, 0, 32)),
        ("no slot count, a queue: full at what it runs", QueueSignals(running=30, waiting=4), 0, 1, 1, (30, 5, 30)),
    ],
)
def test_combined_queue(case: str, signals: QueueSignals, own_at: int, own_now: int, slots: int, expected: tuple[int, int, int]) -> None:
    assert combined_queue(signals, own_at, own_now, slots) == expected


def test_unknown_gauges_combine_to_nothing() -> None:
    assert combined_queue(QueueSignals(server="vLLM"), 0, 3, 1) is None

"""Real-fleet scenarios (`real: true`): they load and refuse what a real server cannot do, the oracle
reads the servers' true slots, and a short real run answers every request through Zeta and LiteLLM."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import httpx
import pytest

from tests.benchmark.test_scenarios import error_of, write
from tests.helpers import wait_until_sync
from tests.llama_fleet import LlamaServers
from zeta_console.benchmark.goals import verdicts_for
from zeta_console.benchmark.real_fleet import ServersTruth, run_real_contender
from zeta_console.benchmark.report import conversation_table
from zeta_console.benchmark.results import ContenderRun, Fate, RequestResult
from zeta_console.benchmark.scenarios import load_scenario
from zeta_console.benchmark.summary import conversation_summary
from zeta_console.benchmark.trace import generate_trace
from zeta_console.settings import Task

REAL = """\
description: two real servers, a few requests
real: true
duration_s: 6
seed: 1
fleet:
  hosts:
    - {name: a, tiers: [coder]}
    - {name: b, tiers: [reasoner]}
traffic:
  - rates_per_s: {complex_reasoning: 0.8, code: 0.3}
sizes:
  complex_reasoning: {prompt_tokens: [10, 20], output_tokens: [4, 8]}
  code: {prompt_tokens: [10, 20], output_tokens: [4, 8]}
"""


def test_the_shipped_real_scenario_runs_at_1x_on_one_tier_per_host() -> None:
    scenario = load_scenario("real-overload")
    assert scenario.real and scenario.time_scale == scenario.quick_time_scale == 1.0
    assert [host.tiers for host in scenario.hosts] == [("coder",), ("reasoner",)]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("real: true\n", "real: true\ntime_scale: 10\n"), ":3: time_scale: a real fleet (real: true) runs at 1x"),
        (("tiers: [coder]", "tiers: [coder, reasoner]"), ":7: fleet.hosts[0].tiers: a real host runs one llama.cpp server: one tier"),
        (("real: true", "real: yes please"), ":2: real: expected true or false, got 'yes please'"),
    ],
)
def test_a_real_scenario_refuses_what_real_servers_cannot_do(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    message = error_of(tmp_path, REAL.replace(*change))
    assert message.startswith(write(tmp_path, "") + expected)


def test_the_oracle_reads_a_busy_slot_from_the_server(llama_servers: LlamaServers) -> None:
    idle, busy = llama_servers.own("idle"), llama_servers.own("busy")
    def ask_for_a_long_answer() -> None:
        body = {"model": "busy", "messages": [{"role": "user", "content": "Count to one hundred."}], "max_tokens": 400}
        with contextlib.suppress(httpx.HTTPError):  # the server is stopped at the end of the test
            httpx.post(f"{busy.url}/v1/chat/completions", json=body, timeout=120)

    long_answer = threading.Thread(target=ask_for_a_long_answer, daemon=True)
    long_answer.start()
    with ServersTruth({"idle": idle.url, "busy": busy.url}) as truth:
        def busy_slot() -> bool:
            return any(slot["is_processing"] for slot in httpx.get(f"{busy.url}/slots").json())

        wait_until_sync(busy_slot, timeout=30, interval=0.02, message="the long answer's slot busy")
        idle_ttft = truth.predicted_ttft_s("idle", "idle", 20)
        busy_ttft = truth.predicted_ttft_s("busy", "busy", 20)
        assert idle_ttft is not None and busy_ttft is not None
        assert busy_ttft > idle_ttft + 1.0  # hundreds of tokens left to decode on the busy one
        idle.stop()
        assert truth.predicted_ttft_s("idle", "idle", 20) is None  # a stopped server cannot answer
    # The long answer is still decoding, and llama-server lets it finish on SIGTERM: stop() would wait out its
    # 10 s grace. The answer was only there to fill the slot.
    busy.kill()


@pytest.mark.parametrize("contender", ["oracle", "litellm:least_busy"])
def test_a_short_real_run_answers_every_request(tmp_path: Path, contender: str) -> None:
    scenario = load_scenario(write(tmp_path, REAL))
    trace = generate_trace(scenario.traffic, scenario.seed, scenario.sizes)
    assert len(trace) >= 4
    run = asyncio.run(run_real_contender(contender, scenario, trace))
    assert [result.fate for result in run.results] == [Fate.OK] * len(trace), [result.error for result in run.results]
    assert {result.endpoint for result in run.results} <= {"coder@a", "reasoner@b"}
    assert all(result.ttft_s is not None and result.ttft_s > 0 for result in run.results)


def run_of(contender: str, ttfts: list[float | None]) -> ContenderRun:
    """Complex-reasoning results with these TTFTs; None is a lost request."""
    results = tuple(
        RequestResult(index, Task.COMPLEX_REASONING, float(index), Fate.LOST if ttft is None else Fate.OK, "reasoner",
                      None if ttft is None else "reasoner@b", ttft_s=ttft, total_s=None if ttft is None else ttft + 1)
        for index, ttft in enumerate(ttfts)
    )
    return ContenderRun(contender, "real-overload", 1.0, 30.0, 30.0, None, results)


def test_the_real_overload_goals_compare_adaptive_with_litellms_best_and_the_oracle() -> None:
    runs = [run_of("adaptive", [1.0, 2.0]), run_of("oracle", [1.0, 1.6]), run_of("litellm:latency", [3.0, 9.0]),
            run_of("litellm:least_busy", [3.0, 4.0])]
    verdicts = verdicts_for(load_scenario("real-overload"), runs)
    assert [(verdict.goal, verdict.met) for verdict in verdicts] == [
        ("p95 TTFT <= 0.5x LiteLLM's best", True),  # 2.0 against 4.0
        ("p95 TTFT <= 1.3x oracle", True),  # 2.0 against 1.6: 1.25x
        ("adaptive: zero lost requests", True),
    ]
    runs[0] = run_of("adaptive", [1.0, 2.1, None])
    assert [verdict.met for verdict in verdicts_for(load_scenario("real-overload"), runs)] == [False, False, False]


CHATS = """\
description: two chats over two real replicas
real: true
duration_s: 8
seed: 2
fleet:
  hosts:
    - {name: a, tiers: [coder]}
    - {name: b, tiers: [coder]}
traffic: []
conversations:
  count: 2
  end_s: 1
  turns: [2, 2]
  system_tokens: [80, 80]
  question_tokens: [5, 10]
  output_tokens: [4, 4]
  think_s: [0, 0]
"""


def test_the_shipped_real_conversations_run_over_two_replicas_and_report_without_the_emulated_goals() -> None:
    scenario = load_scenario("real-conversations")
    assert scenario.real and scenario.conversations is not None
    assert [host.tiers for host in scenario.hosts] == [("coder",), ("coder",)]
    assert verdicts_for(scenario, [run_of("adaptive", [1.0])]) == []  # issue 15's goals are for the emulated chats


@pytest.mark.parametrize("contender", ["adaptive", "litellm:least_busy"])
def test_a_short_real_conversation_run_reports_the_prompt_tokens_the_servers_reused(tmp_path: Path, contender: str) -> None:
    scenario = load_scenario(write(tmp_path, CHATS))
    trace = generate_trace(scenario.traffic, scenario.seed, scenario.sizes, scenario.conversations)
    run = asyncio.run(run_real_contender(contender, scenario, trace))
    assert [result.fate for result in run.results] == [Fate.OK] * 4, [result.error for result in run.results]
    served = {(result.conversation, result.turn): result for result in run.results}
    for chat in (0, 1):
        first, second = served[chat, 0], served[chat, 1]
        assert first.prompt_tokens is not None and first.prompt_tokens > 80  # llama.cpp's count, the template's tokens too
        assert first.cached_prompt_tokens is not None and first.cached_prompt_tokens < 10
        assert second.cached_prompt_tokens is not None
        if second.host == first.host:  # the server reused the chat so far: its system prompt at least
            assert second.cached_prompt_tokens > 80
    if contender == "adaptive":
        assert all(served[chat, 1].host == served[chat, 0].host for chat in (0, 1))
    summary = conversation_summary(run, ["a", "b"])
    assert summary is not None and summary.prompt_tokens == sum(result.prompt_tokens or 0 for result in run.results)
    assert summary.cached_prompt_tokens == sum(result.cached_prompt_tokens or 0 for result in run.results)
    assert "prompt tokens cached" in conversation_table([run], ["a", "b"])

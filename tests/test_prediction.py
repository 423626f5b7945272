"""Predicted TTFT and completion, ranking by what the caller waits for, and what the predictions learn from."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.policy_fixtures import decision_input, endpoint, fleet
from zeta_console.backends.types import FinalTimings
from zeta_console.router.api import Ranking
from zeta_console.router.candidates import EndpointState
from zeta_console.router.feedback import FeedbackLoop
from zeta_console.router.metrics import EndpointMetrics, overhead_window
from zeta_console.router.policies import make_policy
from zeta_console.router.policies.base import predicted_wait_s
from zeta_console.router.policies.prediction import SEED_OUTPUT_TOKENS, estimate, prediction_for
from zeta_console.settings import Adaptive, Settings, Task

NO_EXPLORE = Settings(adaptive=Adaptive(explore_rate=0.0))
READING_S_PER_TOKEN = NO_EXPLORE.adaptive.reading_s_per_token


def measured(tier: str, host: str, *, prefill_s_per_token: float, decode_tps: float, overhead_s: float = 0.01):  # type: ignore[no-untyped-def]
    return endpoint(tier, host, prefill_s_per_token=prefill_s_per_token, decode_tps=decode_tps, ttft_overhead_s=overhead_s)


def test_completion_is_ttft_plus_the_expected_output_at_the_measured_decode_rate() -> None:
    reasoner = measured("reasoner", "local", prefill_s_per_token=0.002, decode_tps=40.0)
    inp = decision_input((reasoner,), prompt_tokens=200, expected_output={"reasoner": 300.0})
    prediction = prediction_for(inp, "reasoner@local", READING_S_PER_TOKEN, waited_s=1.5)
    assert prediction is not None
    ttft = 200 * 0.002 + 0.01 + 1 / 40  # prefill, the host's overhead, the first token's decode step
    assert prediction.ttft_s == pytest.approx(ttft)
    assert prediction.completion_s == pytest.approx(ttft + 300 / 40)
    assert (prediction.output_tokens, prediction.ranked_by, prediction.waited_s) == (300.0, Ranking.COMPLETION, 1.5)


def test_expected_output_is_capped_by_num_predict_and_seeded_when_never_seen() -> None:
    reasoner = measured("reasoner", "local", prefill_s_per_token=0.002, decode_tps=40.0)
    capped = prediction_for(
        decision_input((reasoner,), expected_output={"reasoner": 300.0}, max_output_tokens=100), "reasoner@local", 0.15, 0.0
    )
    assert capped is not None and capped.output_tokens == 100.0
    seeded = prediction_for(decision_input((reasoner,)), "reasoner@local", 0.15, 0.0)
    assert seeded is not None and seeded.output_tokens == SEED_OUTPUT_TOKENS


# Two reasoner replicas: "quick" answers its first token sooner but decodes slowly; "steady" the opposite.
QUICK_FIRST = measured("reasoner", "quick", prefill_s_per_token=0.0005, decode_tps=10.0)
STEADY = measured("reasoner", "steady", prefill_s_per_token=0.004, decode_tps=60.0)


def choose(ranking: Ranking, *replicas, **kwargs) -> str | None:  # type: ignore[no-untyped-def]
    inp = decision_input(
        replicas, Task.COMPLEX_REASONING, route=("reasoner",), prompt_tokens=400, ranking=ranking,
        expected_output={"reasoner": 400.0}, **kwargs,
    )  # fmt: skip
    return make_policy("adaptive", NO_EXPLORE).decide(inp).chosen


def test_a_caller_waiting_for_the_whole_answer_gets_the_fast_decoder() -> None:
    # TTFT 0.2 s vs 1.6 s, but 40 s vs 6.7 s of decoding: ranking by TTFT alone would pick "quick".
    assert choose(Ranking.COMPLETION, QUICK_FIRST, STEADY) == "reasoner@steady"


def test_a_reader_gets_the_quick_first_token_while_the_stream_stays_ahead_of_reading() -> None:
    # 10 tokens/s is faster than reading (0.15 s a token): the reader never waits after the first token.
    assert choose(Ranking.READER, QUICK_FIRST, STEADY) == "reasoner@quick"
    # At 4 tokens/s the reader waits for text: the decode beyond reading time counts, and "steady" wins.
    crawling = measured("reasoner", "quick", prefill_s_per_token=0.0005, decode_tps=4.0)
    assert choose(Ranking.READER, crawling, STEADY) == "reasoner@steady"


def test_the_decision_shows_every_term_and_both_predictions() -> None:
    inp = decision_input((QUICK_FIRST, STEADY), route=("reasoner",), prompt_tokens=400, expected_output={"reasoner": 400.0})
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    steady = next(c for c in result.candidates if c.endpoint == "reasoner@steady")
    terms = steady.terms
    assert terms["decode_s"] == pytest.approx(400 / 60)  # all of it counts for a caller waiting for the whole answer
    assert terms["completion_s"] == pytest.approx(terms["ttft_s"] + 400 / 60)
    assert terms["ttft_s"] == pytest.approx(terms["wait_s"] + terms["load_s"] + terms["prefill_s"] + terms["overhead_s"])
    assert "predicted TTFT" in result.reason and "completion" in result.reason
    assert "beat reasoner@quick" in result.reason and "on decode_s" in result.reason


def test_a_decision_on_estimates_relaxed_back_from_their_last_answer_says_so() -> None:
    relaxed = replace(STEADY, estimates_relaxed_by=3.1)  # its last answers were slow, long ago
    inp = decision_input((QUICK_FIRST, relaxed), route=("reasoner",), prompt_tokens=400, expected_output={"reasoner": 400.0})
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "reasoner@steady"
    assert "reasoner@steady's speed estimates not refreshed lately, read 3.1x back towards their long-run level" in result.reason
    fresh = make_policy("adaptive", NO_EXPLORE).decide(decision_input((QUICK_FIRST, STEADY), route=("reasoner",), prompt_tokens=400))
    assert "not refreshed" not in fresh.reason


def test_embeddings_rank_by_completion_with_no_decode() -> None:
    inp = decision_input(fleet(embedder={"prefill_s_per_token": 0.001, "decode_tps": 50.0}), Task.EMBEDDING, ranking=Ranking.READER)
    prediction = prediction_for(inp, "embedder@local", READING_S_PER_TOKEN, 0.0)
    assert prediction is not None
    assert prediction.output_tokens == 0.0 and prediction.completion_s == prediction.ttft_s


def test_expected_output_is_learned_per_task_and_tier_and_follows_recent_answers() -> None:
    loop = FeedbackLoop(Settings(adaptive=Adaptive(half_life_s=60.0)))
    assert loop.expected_output_tokens(Task.CODE) == {}
    for at, tokens in ((0.0, 100), (1.0, 300)):
        loop.observe(Task.CODE, "coder", ok=True, ttft_s=0.2, at=at, output_tokens=tokens)
    loop.observe(Task.CODE, "coder", ok=False, ttft_s=None, at=1.5, output_tokens=None)  # a failure teaches nothing
    assert loop.expected_output_tokens(Task.CODE)["coder"] == pytest.approx(200, rel=0.02)
    assert "coder" not in loop.expected_output_tokens(Task.SIMPLE)
    loop.observe(Task.CODE, "coder", ok=True, ttft_s=0.2, at=600.0, output_tokens=50)  # ten half-lives later
    assert loop.expected_output_tokens(Task.CODE)["coder"] == pytest.approx(50, rel=0.01)


def test_the_first_token_overhead_is_what_load_prefill_and_the_first_step_leave_shared_by_the_host() -> None:
    shared = overhead_window()
    coder, reasoner = EndpointMetrics(host_overhead=shared), EndpointMetrics(host_overhead=shared)
    # TTFT 0.40 s = 0.05 load + 0.30 prefill + 0.02 first step (2 s for 100 tokens) + 0.03 s overhead.
    timings = FinalTimings(total_s=2.35, load_s=0.05, prompt_tokens=300, prefill_s=0.30, output_tokens=100, decode_s=2.0)
    coder.observe_success(2.4, timings, now=1.0, ttft_s=0.40)
    assert coder.prefill_s_per_token.value == pytest.approx(0.001)
    assert reasoner.ttft_overhead_s(1.0) == pytest.approx(0.03)  # the host's, seen by its other endpoint


def test_an_embedding_learns_its_prefill_rate_from_its_total_time() -> None:
    metrics = EndpointMetrics()
    # Ollama's /api/embed reports no prompt_eval_duration: all of the time past the load is prefill.
    timings = FinalTimings(total_s=0.25, load_s=0.05, prompt_tokens=400, prefill_s=None, output_tokens=None, decode_s=None)
    metrics.observe_success(0.26, timings, now=1.0, ttft_s=0.26)
    assert metrics.prefill_s_per_token.value == pytest.approx(0.2 / 400)
    assert metrics.ttft_overhead_s(1.0) == pytest.approx(0.01)


def test_a_cold_load_is_not_the_service_time_that_requests_queued_behind_it_wait_for() -> None:
    """The demo's cold start: an embedding that waited 9 s for its model made the four queued behind it predict a
    36 s wait, and admission shed them, though each took milliseconds once the model was in memory."""
    metrics = EndpointMetrics()
    cold = FinalTimings(total_s=9.15, load_s=9.1, prompt_tokens=400, prefill_s=None, output_tokens=None, decode_s=None)
    metrics.observe_success(9.15, cold, now=1.0, ttft_s=9.15)
    assert metrics.latency.value == pytest.approx(0.05)
    # The card's and the thresholds' figure too: a load is not serving time (the caller's wait stays in its record).
    assert metrics.latency_percentile(0.95, 1.0) == pytest.approx(0.05)


def test_a_fixed_cost_per_request_does_not_inflate_the_prefill_rate_but_lands_in_the_overhead() -> None:
    metrics = EndpointMetrics()
    # 0.5 ms per token plus 10 ms of scheduling per request, on a 10-token and a 1,000-token prompt.
    for now, tokens in ((1.0, 10), (1.1, 1000), (1.2, 10), (1.3, 1000)):
        prefill = 0.010 + tokens * 0.0005
        timings = FinalTimings(total_s=prefill + 1.0, load_s=0.0, prompt_tokens=tokens, prefill_s=prefill, output_tokens=50, decode_s=1.0)
        metrics.observe_success(prefill + 1.0, timings, now=now, ttft_s=prefill + 0.02)  # + the first step
    rate = metrics.prefill_s_per_token.value
    assert rate is not None and rate < 0.0006  # an average of per-request rates would read ~0.0008
    overhead = metrics.ttft_overhead_s(1.3)
    assert overhead is not None
    for tokens in (10, 1000):  # rate and overhead add up to the TTFT, small prompt or large
        assert tokens * rate + 0.02 + overhead == pytest.approx(0.010 + tokens * 0.0005 + 0.02, abs=0.006)


def test_the_prefill_rate_counts_only_the_prompt_tokens_the_server_evaluated() -> None:
    metrics = EndpointMetrics()
    # 300 prompt tokens, 200 of them from the server's prompt cache: 0.1 s for the 100 it read.
    timings = FinalTimings(
        total_s=1.2, load_s=0.0, prompt_tokens=300, prefill_s=0.1, output_tokens=40, decode_s=1.0, cached_prompt_tokens=200
    )
    metrics.observe_success(1.2, timings, now=1.0, ttft_s=0.15)
    assert metrics.prefill_s_per_token.value == pytest.approx(0.001)


# The first token still costs a caller who waits for the whole answer (`first_token_s`).
# A reasoning query: the coder (its second choice) decodes fast but has two requests ahead of it (wait 4 s);
# the idle reasoner starts at once but thinks through 300 tokens at 40 tokens/s (7.5 s).
BUSY_CODER = endpoint(
    "coder", "local", prefill_s_per_token=0.001, decode_tps=80.0, ttft_overhead_s=0.01, in_flight=1, queued=1, latency_ewma_s=2.0
)
IDLE_REASONER = measured("reasoner", "local", prefill_s_per_token=0.001, decode_tps=40.0)
ANSWERS = {"coder": 100.0, "reasoner": 300.0}


def test_a_whole_answer_caller_is_not_kept_waiting_for_a_busy_endpoint_that_would_finish_a_little_sooner() -> None:
    # Completion alone: coder 4.0 wait + 0.2 prefill + 1.25 decode + 1.0 tier penalty = 6.5 s against the reasoner's 7.7 s.
    # With the first token weighed twice more: 6.5 + 8.4 against 7.7 + 0.5: the reasoner starts now and finishes ~1 s later.
    inp = decision_input((BUSY_CODER, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "reasoner@local"
    coder = next(c for c in result.candidates if c.endpoint == "coder@local")
    weight = NO_EXPLORE.adaptive.first_token_weight
    assert coder.terms["first_token_s"] == pytest.approx(weight * coder.terms["ttft_s"])
    assert f"first token x {weight:g}" in result.reason and "beat coder@local" in result.reason and "on wait_s" in result.reason


def test_the_first_token_weight_does_not_undo_ranking_by_completion() -> None:
    # Both free: the coder's much shorter answer still wins: 3 x 1.2 s of TTFT (a slow prefill) against 7.5 s of thinking.
    coder = endpoint("coder", "local", prefill_s_per_token=0.006, decode_tps=80.0, ttft_overhead_s=0.01)
    inp = decision_input((coder, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS)
    assert make_policy("adaptive", NO_EXPLORE).decide(inp).chosen == "coder@local"


# The coder busy for 1 s more, the idle reasoner crawling at 5 tokens/s through 300 (60 s, 15 s slower than reading them).
CODER_BUSY_1_S = endpoint(
    "coder", "local", prefill_s_per_token=0.001, decode_tps=80.0, ttft_overhead_s=0.01, in_flight=1, latency_ewma_s=1.0
)
CRAWLING_REASONER = measured("reasoner", "local", prefill_s_per_token=0.001, decode_tps=5.0)


def test_a_streamed_request_that_would_wait_for_the_endpoint_it_ranks_first_is_ranked_by_its_first_token() -> None:
    # For a reader the coder wins by TTFT + decode slower than reading (2.22 s against 15.41 s), and the request would
    # wait for it while the reasoner could start it now. Congested so, it is ranked by TTFT: 0.41 s against 1.22 s.
    inp = decision_input((CODER_BUSY_1_S, CRAWLING_REASONER), prompt_tokens=200, expected_output=ANSWERS, ranking=Ranking.READER)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "reasoner@local" and not result.wait
    assert "by TTFT" in result.reason
    assert "congested: coder@local, best by TTFT + decode slower than reading, has no free slot" in result.reason
    scores = {c.endpoint: c.score for c in result.candidates if c.excluded is None}
    assert scores["reasoner@local"] == pytest.approx(0.2 + 0.01 + 1 / 5)
    assert scores["coder@local"] == pytest.approx(1.0 + 0.2 + 0.01 + 1 / 80)


def test_a_whole_answer_caller_is_not_ranked_by_its_first_token_when_congested() -> None:
    # It sees no first token: by completion + first token x 2 it waits for the coder (5.92 s against 61.5 s).
    inp = decision_input((CODER_BUSY_1_S, CRAWLING_REASONER), prompt_tokens=200, expected_output=ANSWERS)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "coder@local" and not result.wait
    assert "by completion + first token x 2" in result.reason and "congested" not in result.reason


# Overload's burst, both endpoints free: the reasoner answers 300 tokens in 7.5 s with its one slot, and reasoning
# questions have been arriving there at one every 8 s; the coder answers 100 in 1.25 s.
BUSY_STREAM = {"coder": 0.3, "reasoner": 0.125}


def with_arrivals(*endpoints: EndpointState, rates: dict[str, float]) -> tuple[EndpointState, ...]:
    return tuple(replace(e, arrivals_per_s=rates.get(e.tier, 0.0)) for e in endpoints)


def test_a_streamed_reasoning_request_leaves_the_one_slot_reasoner_to_the_arrivals_behind_it() -> None:
    # For a reader the reasoner's decode (faster than reading) costs nothing, and it is the preferred tier: 0.24 s
    # against the coder's 0.22 s + 1 s tier penalty. Its 7.7 s answer holds the only slot from the ~1 request that arrives
    # meanwhile, which starts ~3.9 s later on average: hold_s 0.125 x 7.7^2 / 2 = 3.7 s; the coder's 1.5 s answer 0.3 s.
    coder = measured("coder", "local", prefill_s_per_token=0.001, decode_tps=80.0)
    inp = decision_input(with_arrivals(coder, IDLE_REASONER, rates=BUSY_STREAM), prompt_tokens=200, expected_output=ANSWERS,
                         ranking=Ranking.READER)  # fmt: skip
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "coder@local" and not result.wait, result.reason
    holds = {c.endpoint: c.terms["hold_s"] for c in result.candidates if c.excluded is None}
    reasoner_slot_s = 0.2 + 0.01 + 1 / 40 + 300 / 40  # prefill, overhead (with the first step), the whole decode
    coder_slot_s = 0.2 + 0.01 + 1 / 80 + 100 / 80
    assert holds["reasoner@local"] == pytest.approx(0.125 * reasoner_slot_s**2 / 2)
    assert holds["coder@local"] == pytest.approx(0.3 * coder_slot_s**2 / 2)
    assert "beat reasoner@local" in result.reason and "on hold_s" in result.reason
    assert "hold_s (the wait its answer's slot time imposes on the arrivals there): coder@local 0.33, reasoner@local 3.74" in result.reason
    # Nothing arriving, nothing held up: the preferred reasoner takes it, as before.
    quiet = decision_input((coder, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS, ranking=Ranking.READER)
    assert make_policy("adaptive", NO_EXPLORE).decide(quiet).chosen == "reasoner@local"


def test_the_slot_time_a_streamed_answer_takes_counts_when_congested_too() -> None:
    # The coder busy for 1 s more: ranked by TTFT alone the idle reasoner starts it now (0.24 s against 1.22 s), and holds
    # its one slot 7.7 s from the arrivals behind it; with that counted the request waits for the coder (1.55 s against 3.97).
    inp = decision_input(with_arrivals(CODER_BUSY_1_S, IDLE_REASONER, rates=BUSY_STREAM), prompt_tokens=200,
                         expected_output=ANSWERS, ranking=Ranking.READER)  # fmt: skip
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "coder@local", result.reason
    assert "congested: coder@local" in result.reason and "beat reasoner@local (score 3.97) on hold_s" in result.reason


def test_a_whole_answer_caller_carries_no_hold_term_and_decides_as_before() -> None:
    # Its score counts the whole decode already; the arrival rates change nothing.
    inp = decision_input(with_arrivals(CODER_BUSY_1_S, IDLE_REASONER, rates=BUSY_STREAM), prompt_tokens=200, expected_output=ANSWERS)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    before = make_policy("adaptive", NO_EXPLORE).decide(
        decision_input((CODER_BUSY_1_S, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS)
    )
    assert (result.chosen, result.reason) == (before.chosen, before.reason)
    assert all(c.terms["hold_s"] == 0.0 for c in result.candidates if c.excluded is None)


def test_with_every_slot_busy_a_streamed_request_keeps_its_ranking() -> None:
    # Nothing can start the streamed request now: it waits for the endpoint it ranks first, as before.
    reasoner = replace(CRAWLING_REASONER, in_flight=1)
    inp = decision_input((CODER_BUSY_1_S, reasoner), prompt_tokens=200, expected_output=ANSWERS, ranking=Ranking.READER)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.wait and result.chosen == "coder@local" and "congested" not in result.reason


def test_the_wait_for_a_busy_endpoint_is_the_rest_of_the_answer_under_way_then_a_whole_turn_per_request_ahead() -> None:
    coder = endpoint("coder", "local", prefill_s_per_token=0.001, decode_tps=80.0, in_flight=1, latency_ewma_s=2.0, frees_in_s=0.3)
    for state, wait in (
        (coder, 0.3),
        (replace(coder, queued=2), 0.3 + 2 * 2.0),
        (replace(coder, frees_in_s=None), 2.0),  # nothing predicted when it ends: a whole turn
        (replace(coder, in_flight=0, frees_in_s=None), 0.0),
    ):
        assert estimate(state, 200, False, 100.0, 0.0)[0] == pytest.approx(wait), state
        assert predicted_wait_s((state,)) == pytest.approx(wait)  # admission's estimate agrees


def test_a_whole_answer_request_waits_for_the_busy_coder_about_to_free_rather_than_think_on_the_idle_reasoner() -> None:
    # The coder's answer under way ends in 5 ms: its next request's first token in 0.23 s and its answer ~1.3 s later,
    # against the reasoner's 0.24 s and 7.5 s of thinking. Counting a whole turn of the coder's (2 s) as the wait instead,
    # the reasoner won (by completion + first token x 2: 8.2 against 8.9) and held its one slot for 7.7 s.
    coder = endpoint(
        "coder", "local", prefill_s_per_token=0.001, decode_tps=80.0, ttft_overhead_s=0.01, in_flight=1, latency_ewma_s=2.0,
        frees_in_s=0.005,
    )  # fmt: skip
    result = make_policy("adaptive", NO_EXPLORE).decide(decision_input((coder, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS))
    assert result.chosen == "coder@local", result.reason
    waited = make_policy("adaptive", NO_EXPLORE).decide(
        decision_input((replace(coder, frees_in_s=None), IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS)
    )
    assert waited.chosen == "reasoner@local"


def test_with_every_slot_busy_the_ranking_stays_by_completion() -> None:
    # Nothing can start the request now: it waits for the endpoint it would finish soonest on, as before.
    coder = endpoint("coder", "local", prefill_s_per_token=0.001, decode_tps=80.0, ttft_overhead_s=0.01, in_flight=1, latency_ewma_s=1.0)
    reasoner = replace(IDLE_REASONER, in_flight=1)
    result = make_policy("adaptive", NO_EXPLORE).decide(decision_input((coder, reasoner), prompt_tokens=200, expected_output=ANSWERS))
    assert result.wait and result.chosen == "coder@local" and "congested" not in result.reason


def test_a_reader_and_an_embedding_carry_no_first_token_term() -> None:
    # A reader's score already counts the whole TTFT; an embedding's completion is its TTFT.
    reader = make_policy("adaptive", NO_EXPLORE).decide(
        decision_input((BUSY_CODER, IDLE_REASONER), prompt_tokens=200, expected_output=ANSWERS, ranking=Ranking.READER)
    )
    embedding = make_policy("adaptive", NO_EXPLORE).decide(decision_input(fleet(), Task.EMBEDDING))
    for result in (reader, embedding):
        assert all(c.terms["first_token_s"] == 0.0 for c in result.candidates if c.excluded is None)


# The slowdown scenario's first two minutes: the coder has answered (measured, busy with one request), the
# preferred reasoner never has, so its TTFT is the threshold seed and its decode the conservative seed rate.
BUSY_CODER = endpoint(
    "coder", in_flight=1, ttft_ewma_s=0.2, latency_ewma_s=1.5, prefill_s_per_token=0.001, decode_tps=40.0, ttft_overhead_s=0.01
)
NEVER_MEASURED_REASONER = endpoint("reasoner", ttft_ewma_s=None, latency_ewma_s=None)


def decide_reasoning(*endpoints):  # type: ignore[no-untyped-def]
    inp = decision_input(endpoints, Task.COMPLEX_REASONING, route=("reasoner", "coder"), expected_output={"coder": 256.0})
    return make_policy("adaptive", NO_EXPLORE).decide(inp)


def test_an_idle_endpoint_never_measured_is_measured_before_its_seeds_lose_it_every_request() -> None:
    result = decide_reasoning(BUSY_CODER, NEVER_MEASURED_REASONER)
    assert result.chosen == "reasoner@local" and not result.wait
    assert "measure: reasoner@local never measured and idle" in result.reason and "otherwise coder@local" in result.reason
    reasoner, coder = (next(c for c in result.candidates if c.endpoint == e) for e in ("reasoner@local", "coder@local"))
    assert reasoner.score > coder.score  # the score still says what the seeds predict: every term stays in the decision


def test_once_measured_or_while_busy_cold_or_failing_the_score_decides() -> None:
    measured_reasoner = endpoint("reasoner", ttft_ewma_s=0.3, latency_ewma_s=20.0, prefill_s_per_token=0.001, decode_tps=10.0)
    for reasoner in (
        measured_reasoner,
        replace(NEVER_MEASURED_REASONER, in_flight=1),  # its first request is still running: one at a time
        replace(NEVER_MEASURED_REASONER, resident=False),  # measuring it would make the caller pay for a model load
        replace(NEVER_MEASURED_REASONER, error_rate=0.5),
    ):
        result = decide_reasoning(replace(BUSY_CODER, in_flight=0), reasoner)  # both free: no congestion ranking by TTFT
        assert result.chosen == "coder@local", reasoner
        assert "measure:" not in result.reason


def test_nothing_is_measured_first_while_no_endpoint_has_been_measured() -> None:
    fresh_coder = endpoint("coder", ttft_ewma_s=None, latency_ewma_s=None)
    result = decide_reasoning(fresh_coder, NEVER_MEASURED_REASONER)
    assert "measure:" not in result.reason


def test_an_endpoint_whose_last_attempts_were_hedged_away_is_predicted_no_sooner_than_they_waited() -> None:
    # The preferred reasoner's rates read fast (0.24 s, against the coder's 0.22 s + 1 s tier penalty), but its last two
    # attempts were cut by hedges after 2 s with no first token: its TTFT is read at least that (the shortfall in
    # prefill_s), and the coder takes the request.
    coder = measured("coder", "local", prefill_s_per_token=0.001, decode_tps=80.0)
    hedged_away = replace(IDLE_REASONER, silent_s=2.0, silent_attempts=2)
    inp = decision_input((coder, hedged_away), prompt_tokens=200, expected_output=ANSWERS, ranking=Ranking.READER)
    result = make_policy("adaptive", NO_EXPLORE).decide(inp)
    assert result.chosen == "coder@local", result.reason
    reasoner = next(c for c in result.candidates if c.endpoint == "reasoner@local")
    assert reasoner.terms["ttft_s"] == pytest.approx(2.0) and reasoner.terms["prefill_s"] == pytest.approx(2.0 - 0.01 - 1 / 40)
    assert "reasoner@local's last 2 attempts hedged away with no first token: its TTFT read at least 2.00 s" in result.reason
    # A floor under what its rates predict anyway changes nothing and is not mentioned.
    low = replace(IDLE_REASONER, silent_s=0.1, silent_attempts=2)
    quiet = make_policy("adaptive", NO_EXPLORE).decide(replace(inp, endpoints=(coder, low)))
    assert quiet.chosen == "reasoner@local" and "hedged away" not in quiet.reason

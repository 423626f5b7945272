"""Error rates: forgotten with time, and never 100 % on the strength of one failure. Estimates no answer refreshes:
read relaxed back towards their long-run level. A cold load: kept out of the TTFT and latency figures, remembered."""

from __future__ import annotations

import math

import pytest

from zeta_console.backends.types import FinalTimings
from zeta_console.router.metrics import (
    DISPATCH_HALF_LIFE_S,
    ERROR_HALF_LIFE_S,
    MIN_ERROR_SAMPLES,
    PERCENTILE_WINDOW_S,
    RELAX_TAU_S,
    EndpointMetrics,
    ErrorRate,
    cold_load_s,
)


def test_one_failure_is_not_a_100_percent_error_rate() -> None:
    rate = ErrorRate()
    rate.add(False, now=100.0)
    assert rate.value(100.0) == 1 / MIN_ERROR_SAMPLES


def test_an_error_rate_fades_with_time_when_nothing_arrives() -> None:
    rate = ErrorRate()
    for _ in range(10):
        rate.add(False, now=100.0)
    assert rate.value(100.0) == 1.0  # enough samples: all of them failed
    assert rate.value(100.0 + ERROR_HALF_LIFE_S) == 1.0  # still over the minimum: the ratio holds
    assert rate.value(100.0 + 4 * ERROR_HALF_LIFE_S) < 0.25  # 10 / 16 failures left, over 5 samples


def test_with_enough_traffic_the_rate_is_the_plain_ratio() -> None:
    rate = ErrorRate()
    for index in range(40):
        rate.add(index % 4 != 0, now=100.0)
    assert abs(rate.value(100.0) - 0.25) < 1e-9


def _answer(metrics: EndpointMetrics, now: float, *, slow: float = 1.0) -> None:
    """One answer: 200 prompt tokens read in 0.1 s and 100 tokens decoded in 2 s, both `slow` times slower."""
    timings = FinalTimings(total_s=2.1 * slow, load_s=None, prompt_tokens=200, prefill_s=0.1 * slow, output_tokens=100, decode_s=2.0 * slow)
    metrics.observe_first_token(0.15 * slow, now)
    metrics.observe_success(2.1 * slow, timings, now, ttft_s=0.15 * slow)


def test_a_slowed_estimate_that_no_answer_refreshes_relaxes_back_to_its_earlier_level() -> None:
    metrics = EndpointMetrics()
    for second in range(0, 300, 5):  # five minutes at 50 tokens/s
        _answer(metrics, float(second))
    _answer(metrics, 300.0, slow=5.0)  # slowed 5x; the router then sends it nothing
    slowed = metrics.estimates(300.0)
    assert slowed.decode_tps is not None and slowed.decode_tps < 40.0  # the slow answer counts at once
    assert slowed.relaxed_by == 1.0
    later = metrics.estimates(300.0 + 4 * RELAX_TAU_S)
    assert later.decode_tps is not None and later.decode_tps > 45.0  # back near 50, though nothing was measured since
    assert later.prefill_s_per_token is not None and slowed.prefill_s_per_token is not None
    assert later.prefill_s_per_token < 0.6 * slowed.prefill_s_per_token
    assert metrics.latency.value == 10.5  # the service time (a peak-EWMA: a busy endpoint's slow answers count) is not relaxed
    assert later.relaxed_by > 2.0
    assert metrics.decode_tps.value == slowed.decode_tps  # the measurement itself is unchanged


def test_a_real_slowdown_is_read_slow_again_by_the_answer_a_relaxed_estimate_draws() -> None:
    metrics = EndpointMetrics()
    for second in range(0, 300, 5):
        _answer(metrics, float(second))
    _answer(metrics, 300.0, slow=5.0)
    _answer(metrics, 300.0 + 3 * RELAX_TAU_S, slow=5.0)  # tried again: still slow
    again = metrics.estimates(300.0 + 3 * RELAX_TAU_S)
    assert again.decode_tps is not None and again.decode_tps < 40.0
    assert again.relaxed_by == 1.0  # relaxing starts over from the new answer


def test_fresh_estimates_are_read_as_measured() -> None:
    metrics = EndpointMetrics()
    for second in range(0, 60, 1):
        _answer(metrics, float(second), slow=1.0 + (second % 2))
    read = metrics.estimates(59.0)
    assert read.relaxed_by == 1.0
    assert read.decode_tps == metrics.decode_tps.value and read.prefill_s_per_token == metrics.prefill_s_per_token.value


def test_a_cold_load_is_left_out_of_the_ttft_and_latency_figures_and_named_while_they_would_have_held_it() -> None:
    metrics = EndpointMetrics()
    timings = FinalTimings(total_s=9.0, load_s=8.0, prompt_tokens=200, prefill_s=0.1, output_tokens=20, decode_s=0.9)
    metrics.observe_first_token(8.15, 100.0, predicted_s=3.0, load_s=cold_load_s(timings))
    metrics.observe_success(9.0, timings, 100.0, ttft_s=8.15)
    view = metrics.view(100.0)
    assert view.ttft_p95_s == pytest.approx(0.15) and view.ttft_history == pytest.approx((0.15,))
    assert view.latency_p95_s == pytest.approx(1.0) and view.latency_history == pytest.approx((1.0,))
    assert view.load_s == 8.0 and view.last_cold_load_s == 8.0
    assert metrics.view(100.0 + PERCENTILE_WINDOW_S + 1.0).last_cold_load_s is None


def test_a_warm_model_s_load_duration_is_no_cold_load() -> None:
    warm = FinalTimings(total_s=1.0, load_s=0.004, prompt_tokens=200, prefill_s=0.1, output_tokens=20, decode_s=0.9)
    assert cold_load_s(warm) == 0.0
    assert cold_load_s(None) == 0.0


def test_a_censored_first_token_shorter_than_expected_of_it_changes_nothing() -> None:
    # A hedge cancelled a few ms after it was sent: its TTFT was at least those few ms, which says nothing.
    metrics = EndpointMetrics()
    metrics.observe_censored_first_token(0.004, 100.0, predicted_s=0.5)
    assert metrics.ttft.value is None and metrics.ttft_percentile(0.95, 100.0) is None
    _answer(metrics, 101.0)
    metrics.observe_censored_first_token(0.05, 102.0, predicted_s=0.01)  # later than predicted, below the estimate
    assert metrics.ttft.value == 0.15 and metrics.view(102.0).ttft_history == (0.15,)


def test_a_censored_first_token_later_than_expected_of_it_counts() -> None:
    # A stalled attempt that lost its race: its TTFT was at least its wait, which is news.
    metrics = EndpointMetrics()
    _answer(metrics, 100.0)
    metrics.observe_censored_first_token(3.0, 101.0, predicted_s=0.2)
    assert metrics.ttft.value == 3.0 and metrics.ttft_percentile(0.95, 101.0) == 3.0


def test_an_endpoint_s_arrival_rate_reads_a_steady_stream_and_halves_per_half_life_once_it_stops() -> None:
    metrics = EndpointMetrics(time_scale=10.0)  # the half-life follows the emulator's time scale
    assert metrics.arrivals_per_s(0.0) == 0.0
    for i in range(400):  # 2 requests a second for 200 s, many half-lives (3 s at 10x)
        metrics.dispatched(i * 0.5)
    last = 399 * 0.5
    assert metrics.arrivals_per_s(last) == pytest.approx(2.0, rel=0.15)
    assert metrics.arrivals_per_s(last + DISPATCH_HALF_LIFE_S / 10.0) == pytest.approx(metrics.arrivals_per_s(last) / 2)


def test_attempts_hedged_away_in_a_row_floor_the_next_first_token_until_one_comes() -> None:
    metrics = EndpointMetrics()
    _answer(metrics, 100.0)
    metrics.observe_censored_first_token(1.0, 101.0, predicted_s=0.2)
    assert metrics.silent_s(101.0) == 0.0  # one cut attempt: a straggler as likely as a slow endpoint
    metrics.observe_censored_first_token(0.05, 101.5, predicted_s=0.2)  # a hedge cut before its time says nothing
    metrics.observe_censored_first_token(0.8, 102.0, predicted_s=0.2)
    assert metrics.silent_attempts() == 2
    assert metrics.silent_s(102.0) == 1.0  # the longest wait of the run
    assert metrics.silent_s(102.0 + RELAX_TAU_S) == pytest.approx(1.0 / math.e)  # decays from the last cut
    metrics.observe_first_token(0.15, 103.0)
    assert metrics.silent_s(103.0) == 0.0 and metrics.silent_attempts() == 0

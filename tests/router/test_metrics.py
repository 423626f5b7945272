"""Error rates: forgotten with time, and never 100 % on the strength of one failure."""

from __future__ import annotations

import pytest

from zeta_console.router.metrics import DISPATCH_HALF_LIFE_S, ERROR_HALF_LIFE_S, MIN_ERROR_SAMPLES, EndpointMetrics, ErrorRate


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


def test_the_dispatch_rate_reads_a_steady_rate_and_fades_when_nothing_is_sent() -> None:
    metrics = EndpointMetrics(time_scale=10.0)  # the half-life follows the time scale, as every time constant does
    half_life_s = DISPATCH_HALF_LIFE_S / 10.0
    for i in range(1, 401):  # 4 a second for 100 s, many half-lives
        metrics.dispatched(i / 4)
    assert metrics.dispatch_per_s(100.0) == pytest.approx(4.0, rel=0.1)
    assert metrics.dispatch_per_s(100.0 + half_life_s) == pytest.approx(metrics.dispatch_per_s(100.0) / 2)

"""Error rates: forgotten with time, and never 100 % on the strength of one failure."""

from __future__ import annotations

from zeta_console.router.metrics import ERROR_HALF_LIFE_S, MIN_ERROR_SAMPLES, ErrorRate


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

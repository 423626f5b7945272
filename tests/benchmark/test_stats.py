"""Nearest-rank percentiles, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from zeta_console.benchmark.stats import percentile

TEN = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 1.0, 0.4, 0.8, 0.6]  # 0.1 .. 1.0, shuffled


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (50, 0.5),  # rank ceil(5.0) = 5
        (95, 1.0),  # rank ceil(9.5) = 10
        (90, 0.9),  # rank ceil(9.0) = 9
        (10, 0.1),  # rank 1
        (11, 0.2),  # rank ceil(1.1) = 2
        (100, 1.0),
    ],
)
def test_nearest_rank_over_ten_samples(p: float, expected: float) -> None:
    assert percentile(TEN, p) == expected


def test_p99_of_fifty_samples_is_the_worst_one() -> None:
    samples = [float(value) for value in range(1, 51)]
    assert percentile(samples, 99) == 50.0  # rank ceil(49.5) = 50
    assert percentile(samples, 95) == 48.0  # rank ceil(47.5) = 48


def test_single_and_empty_samples() -> None:
    assert percentile([3.0], 1) == 3.0
    assert percentile([], 50) is None


def test_percentile_outside_range_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 0)

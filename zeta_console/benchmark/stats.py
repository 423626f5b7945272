"""Latency statistics for the benchmark tables.

Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the
sample at rank ceil(p/100 * n) (1-based). It always returns an observed value, never an
interpolation, so a p99 over 50 requests is honestly the worst one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not samples:
        return None
    ordered = sorted(samples)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None

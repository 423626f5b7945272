"""Budgeted hedging before the first token ("The Tail at Scale").

A streamed request whose first token is late against its own predicted p99 (`hedging.percentile`)
time to first token (or the configured `hedging.delay_s`) is sent to the next-best endpoint too;
`run.py` races the two, keeps whichever answers first and cancels the other. This module holds what
that race shares across requests: when a request counts as late, the token bucket that caps the
extra requests, and the counts that `/metrics` and the console show.
"""

from __future__ import annotations

from zeta_console.router.api import HedgingSnapshot
from zeta_console.router.metrics import EndpointMetrics
from zeta_console.settings import Hedging

UNCALIBRATED_PERCENTILE = 0.95  # without a prediction: late past the endpoint's measured p95 TTFT
# Until the tier's predictions have been checked: late past this many times the prediction. Loose, as a seeded
# prediction may be off by a fair margin; a straggler (a stall, a 10x prefill) still passes it.
UNCALIBRATED_FACTOR = 3.0
START_HEDGES = 2.0  # what the budget holds at start (see `HedgeBudget`)


def late_after_s(metrics: EndpointMetrics, predicted_ttft_s: float | None, percentile: float, now: float) -> float | None:
    """When a request's first token on this endpoint is late: the request's own predicted TTFT (its prompt,
    the endpoint's queue and rates) times the endpoint's measured prediction error at `percentile`
    (`EndpointMetrics.ttft_error_factor`), so that normal requests, short or long, queued or not, rarely
    pass it and stragglers do. Until the tier's predictions have been checked, UNCALIBRATED_FACTOR times the
    prediction: not the endpoint's p95 over its first few samples, which is about their maximum, and a normal
    request passes the maximum of n samples once in n + 1 (in `straggler` that spent the budget of the first
    minute on normal requests, and its stragglers went unhedged). Without a prediction, the endpoint's
    measured p95 TTFT. None until the endpoint has answered."""
    measured_p95 = metrics.ttft_percentile(UNCALIBRATED_PERCENTILE, now)
    if predicted_ttft_s is None or measured_p95 is None:
        return measured_p95
    factor = metrics.ttft_error_factor(percentile, now)
    return predicted_ttft_s * (factor if factor is not None else UNCALIBRATED_FACTOR)


class HedgeBudget:
    """A token bucket: each request earns `ratio` of a hedge, at most `burst` are saved, a hedge
    spends one. It starts with `start` (at most `burst`), so hedges never exceed `start` plus `ratio` of the
    requests seen. Not empty: at 5 % the first hedge is earned by the 20th request, and a straggler among the
    first requests (when no spread is measured yet) would go unhedged."""

    def __init__(self, ratio: float, burst: int, start: float = START_HEDGES) -> None:
        self._ratio = ratio
        self._burst = float(burst)
        self.tokens = min(self._burst, start)

    def on_request(self) -> None:
        self.tokens = min(self._burst, self.tokens + self._ratio)

    def can_spend(self) -> bool:
        return self.tokens >= 1.0

    def try_spend(self) -> bool:
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class Hedger:
    """When to hedge, the budget, and what happened (sent / won / cancelled / denied)."""

    def __init__(self, config: Hedging) -> None:
        self._config = config
        self.budget = HedgeBudget(config.ratio, config.burst)
        self.sent = 0  # hedges sent
        self.won = 0  # ... whose first token came first (the hedge's endpoint answered the caller)
        self.cancelled = 0  # attempts cancelled because the other attempt's first token came first
        self.denied = 0  # late first tokens not hedged because the budget was spent

    def delay_s(self, metrics: EndpointMetrics, predicted_ttft_s: float | None, now: float) -> float | None:
        """How long an attempt on this endpoint, predicted to answer in `predicted_ttft_s`, may stay silent
        before it is hedged (None: never)."""
        config = self._config
        return config.delay_s if config.delay_s > 0 else late_after_s(metrics, predicted_ttft_s, config.percentile, now)

    def snapshot(self, enabled: bool) -> HedgingSnapshot:
        return HedgingSnapshot(
            enabled=enabled,
            sent=self.sent,
            won=self.won,
            cancelled=self.cancelled,
            denied=self.denied,
            budget=self.budget.tokens,
            ratio=self._config.ratio,
        )

"""Whether a failed attempt may be tried again elsewhere: the error's kind and the fleet-wide retry budget."""

from __future__ import annotations

from zeta_console.backends.types import BackendError
from zeta_console.router.api import ErrorKind
from zeta_console.router.metrics import DecayedCount
from zeta_console.settings import RetryBudget as RetryBudgetConfig

RETRY_BUDGET_HALF_LIFE_S = 10.0


class RetryBudget:
    """Retries may add at most `ratio` of recent requests plus `min_per_s` (Linkerd's budget)."""

    def __init__(self, config: RetryBudgetConfig) -> None:
        self._config = config
        self._requests = DecayedCount(RETRY_BUDGET_HALF_LIFE_S)
        self._retries = DecayedCount(RETRY_BUDGET_HALF_LIFE_S)
        self._floor = config.min_per_s * RETRY_BUDGET_HALF_LIFE_S / 0.6931471805599453  # the decayed window's length

    def on_request(self, now: float) -> None:
        self._requests.add(now)

    def try_spend(self, now: float) -> bool:
        if self._retries.value(now) + 1 > self._config.ratio * self._requests.value(now) + self._floor:
            return False
        self._retries.add(now)
        return True


def retryable(error: BackendError) -> bool:
    return error.kind is not ErrorKind.BAD_REQUEST

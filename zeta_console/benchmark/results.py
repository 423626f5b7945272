"""What one benchmark run produced: a result per trace request, per contender.

Latencies are in scenario seconds (measured wall time x the emulator's time scale), so runs at
different time scales compare directly with each other and with a real fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zeta_console.settings import Task


class Fate(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the caller got an error
    LOST = "lost"  # the caller got neither an answer nor an error before the run's deadline


@dataclass(frozen=True)
class Calibration:
    """Predicted and measured times of one request, both from the instant of its final decision."""

    predicted_ttft_s: float
    predicted_completion_s: float
    actual_ttft_s: float | None
    actual_completion_s: float | None

    def scaled(self, factor: float) -> Calibration:
        def times(value: float | None) -> float | None:
            return value * factor if value is not None else None

        return Calibration(
            self.predicted_ttft_s * factor, self.predicted_completion_s * factor, times(self.actual_ttft_s), times(self.actual_completion_s)
        )


@dataclass(frozen=True)
class RequestResult:
    index: int
    task: Task
    at_s: float  # scheduled arrival, scenario seconds
    fate: Fate
    preferred_tier: str  # first tier of the task's route
    endpoint: str | None = None  # "tier@host" that served (or last failed) it
    ttft_s: float | None = None
    total_s: float | None = None
    fallbacks: int = 0  # endpoints that failed before the first token and were replaced
    failed_after_first_token: bool = False
    error: str | None = None
    calibration: Calibration | None = None  # predicted and actual times (Zeta's contenders only)
    conversation: int | None = None  # the chat this request is a turn of
    turn: int = 0
    answer_intact: bool | None = None  # the caller's text is exactly one host's whole answer (None: not checked)
    prompt_tokens: int | None = None  # as the server counted them (None: it did not say)
    cached_prompt_tokens: int | None = None  # of those, reused from the server's prompt cache (None: it did not say)
    stalled: bool | None = None  # an emulated host made it a straggler (`straggle_rate`; None: not known, a real fleet)

    @property
    def tier(self) -> str | None:
        return self.endpoint.split("@", 1)[0] if self.endpoint else None

    @property
    def host(self) -> str | None:
        return self.endpoint.split("@", 1)[1] if self.endpoint and "@" in self.endpoint else None


@dataclass(frozen=True)
class ContenderRun:
    contender: str  # policy name, or "litellm:<strategy>"
    scenario: str
    time_scale: float
    duration_s: float  # scenario length (arrivals stop there)
    wall_s: float  # how long the replay took
    loop_lag_p99_ms: float | None  # event-loop lag of the harness itself: high values void the run
    results: tuple[RequestResult, ...]
    hedges_sent: int | None = None  # None: the contender does not hedge
    hedges_won: int | None = None

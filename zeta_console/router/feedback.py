"""The feedback loop: per (task x tier) decayed history of outcomes, turned into score weights.

The adaptive policy multiplies an endpoint's predicted time by the weight of (task, tier):
1.0 is neutral, above 1 worse, below 1 better. A tier's cost for a task is its mean latency
divided by its success rate (a failure costs another try); its weight compares that cost with
its peers' for the same task. Weights stay neutral until a tier has some history, drift back to
neutral as history ages without new samples, and are clamped to the operator's bounds.
The router applies pins before weights, so the loop can never override a pin.
It also learns the output length to expect per (task x tier), a decayed mean that the
predictions of completion time use.

Pure Python, O(1) per observation, no I/O, no threads: the caller owns the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from zeta_console.settings import Settings, Task

PRIOR_SAMPLES = 5.0  # decayed samples at which a tier's evidence counts for half
# Tiers differ in speed by design (a 14B model is slower than a 7B one); the square root keeps
# that difference from dominating while a failing or stalled tier still reaches the bound.
SENSITIVITY = 0.5
MIN_SUCCESS_RATE = 0.05  # floor, so a tier that only failed has a finite cost
UPDATE_EVERY_S = 1.0  # weights() recomputes at most this often

Key = tuple[Task, str]
_NONE: Mapping[str, float] = MappingProxyType({})


@dataclass(frozen=True)
class TierStats:
    samples: float  # decayed count of observations
    success_rate: float  # 0..1
    mean_latency_s: float | None  # TTFT over the successes that had one (an answer relayed whole may have none)


@dataclass(slots=True)
class _History:
    """Exponentially decayed sums, all decayed to the time `at`."""

    at: float
    samples: float = 0.0
    successes: float = 0.0
    timed: float = 0.0  # successes that brought a latency sample
    latency_sum: float = 0.0
    counted: float = 0.0  # successes that reported their output length
    output_sum: float = 0.0

    def add(self, ok: bool, latency_s: float | None, at: float, half_life_s: float, output_tokens: int | None = None) -> None:
        weight = 1.0
        if at >= self.at:
            decay = 0.5 ** ((at - self.at) / half_life_s)
            self.samples *= decay
            self.successes *= decay
            self.timed *= decay
            self.latency_sum *= decay
            self.counted *= decay
            self.output_sum *= decay
            self.at = at
        else:  # a late report: decay the sample instead of the history
            weight = 0.5 ** ((self.at - at) / half_life_s)
        self.samples += weight
        if ok:
            self.successes += weight
            if latency_s is not None:
                self.timed += weight
                self.latency_sum += weight * latency_s
            if output_tokens is not None:
                self.counted += weight
                self.output_sum += weight * output_tokens

    def stats(self, now: float, half_life_s: float) -> TierStats:
        decay = 0.5 ** (max(0.0, now - self.at) / half_life_s)
        mean = self.latency_sum / self.timed if self.timed > 0 else None
        return TierStats(self.samples * decay, self.successes / self.samples if self.samples else 1.0, mean)


class FeedbackLoop:
    def __init__(self, settings: Settings) -> None:
        adaptive = settings.adaptive
        self._half_life_s = adaptive.half_life_s
        self._min_weight = adaptive.min_weight
        self._max_weight = adaptive.max_weight
        self._history: dict[Key, _History] = {}
        self._weights: Mapping[Key, float] = MappingProxyType({})
        self._outputs: dict[Task, dict[str, float]] = {}
        self._updated_at: float | None = None

    def observe(
        self, task: Task, tier: str, *, ok: bool, ttft_s: float | None, at: float, output_tokens: int | None = None
    ) -> None:
        """Record one finished request. Report busy (503) rejections as load, not here. A success
        without a TTFT (an answer relayed whole, no decode time reported) counts for the success rate only: its total time is
        not comparable with the TTFTs the tier's mean is made of."""
        history = self._history.get((task, tier))
        if history is None:
            history = self._history[(task, tier)] = _History(at)
        history.add(ok, ttft_s, at, self._half_life_s, output_tokens)
        if ok and output_tokens is not None:
            self._outputs.setdefault(task, {})[tier] = history.output_sum / history.counted

    def expected_output_tokens(self, task: Task) -> Mapping[str, float]:
        """tier -> the decayed mean output length of `task`'s answers from it (tiers never observed are absent)."""
        return self._outputs.get(task, _NONE)

    def stats(self, task: Task, tier: str, now: float) -> TierStats | None:
        history = self._history.get((task, tier))
        return None if history is None else history.stats(now, self._half_life_s)

    def weights(self, now: float) -> Mapping[Key, float]:
        """The current weights, recomputed when older than UPDATE_EVERY_S."""
        if self._updated_at is None or now - self._updated_at >= UPDATE_EVERY_S:
            return self.update(now)
        return self._weights

    def update(self, now: float) -> Mapping[Key, float]:
        by_task: dict[Task, dict[str, TierStats]] = {}
        for (task, tier), history in self._history.items():
            by_task.setdefault(task, {})[tier] = history.stats(now, self._half_life_s)
        weights: dict[Key, float] = {}
        for task, tiers in by_task.items():
            for tier, log_weight in self._log_weights(tiers).items():
                weights[(task, tier)] = min(self._max_weight, max(self._min_weight, math.exp(log_weight)))
        self._weights = MappingProxyType(weights)
        self._updated_at = now
        return self._weights

    @staticmethod
    def _log_weights(tiers: Mapping[str, TierStats]) -> dict[str, float]:
        """log(weight) per tier: its log cost against the peers' mean, shrunk by its confidence."""
        latencies = sorted(s.mean_latency_s for s in tiers.values() if s.mean_latency_s is not None)
        if not latencies:
            return dict.fromkeys(tiers, 0.0)
        typical = latencies[len(latencies) // 2]  # stands in for a tier that never succeeded
        log_costs = {
            tier: math.log(max(s.mean_latency_s if s.mean_latency_s is not None else typical, 1e-6) / max(s.success_rate, MIN_SUCCESS_RATE))
            for tier, s in tiers.items()
        }
        reference = sum(log_costs.values()) / len(log_costs)  # geometric mean of the costs
        return {
            tier: SENSITIVITY * (s.samples / (s.samples + PRIOR_SAMPLES)) * (log_costs[tier] - reference)
            for tier, s in tiers.items()
        }

"""The latency model: load time, prefill and decode rates, contention, seeded jitter, time_scale.

Contention (continuous batching): with k streams decoding together on one model, each stream
gets `decode_tps / k**CONTENTION_ALPHA` tokens/s, so the aggregate `decode_tps * k**(1-alpha)`
rises sublinearly. alpha = 0.55 sits between llama.cpp's batched figures (ollama-api.md §3.4:
1 stream 52 tok/s, 4 streams ~23 each, 8 streams ~19 each): this formula gives 24 and 16.5.

Every delay is a simulated duration divided by `time_scale` (10 = ten times faster than real),
multiplied by the model's `slow_factor` fault and by one jitter factor per request.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from zeta_console.sim.profiles import ModelProfile

CONTENTION_ALPHA = 0.55
JITTER = 0.1  # each request's delays are scaled by a factor drawn uniformly from 1 +/- JITTER


def per_stream_decode_tps(decode_tps: float, active_streams: int) -> float:
    return decode_tps / math.pow(max(1, active_streams), CONTENTION_ALPHA)


@dataclass(frozen=True)
class RequestPace:
    """The wall-clock delays of one request: the model's rates with its jitter and slow factor."""

    profile: ModelProfile
    time_scale: float
    factor: float  # jitter x slow_factor

    def load_s(self) -> float:
        return self.profile.load_s * self.factor / self.time_scale

    def prefill_s(self, prompt_tokens: int) -> float:
        return prompt_tokens / self.profile.prefill_tps * self.factor / self.time_scale

    def token_s(self, active_streams: int) -> float:
        return self.factor / (per_stream_decode_tps(self.profile.decode_tps, active_streams) * self.time_scale)

    def simulated_s(self, seconds: float) -> float:
        """A simulated duration (e.g. a stall) on the wall clock."""
        return seconds / self.time_scale


class Jitter:
    """Seeded per-host jitter: the same seed and request order give the same delays."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def pace(self, profile: ModelProfile, time_scale: float, slow_factor: float) -> RequestPace:
        factor = (1.0 + self._random.uniform(-JITTER, JITTER)) * slow_factor
        return RequestPace(profile, time_scale, factor)

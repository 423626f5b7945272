"""A count of events per second over a short window: the router's request rate, and the console's SERVING badge."""

from __future__ import annotations

from collections import deque

RATE_WINDOW_S = 10


class RateMeter:
    """Events per second over the last `RATE_WINDOW_S` whole seconds (per-second buckets)."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()  # [second, count], oldest first

    def add(self, now: float) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
            while self._buckets[0][0] <= second - RATE_WINDOW_S:
                self._buckets.popleft()

    def per_second(self, now: float) -> float:
        oldest = int(now) - RATE_WINDOW_S
        return sum(count for second, count in self._buckets if second > oldest) / RATE_WINDOW_S

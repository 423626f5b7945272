"""Background demo traffic: Poisson arrivals of mixed tasks through the router, rate adjustable live.

Used by `zeta-console --demo` (client "loadgen") so that a newcomer sees routing under load. It
knows nothing of the UI: it needs only the router's `chat` and `embed`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence

from zeta_console.router.api import Router
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.settings import DEFAULT_EXAMPLES, Task

CLIENT = "loadgen"
DEFAULT_MIX: Mapping[Task, float] = {Task.SIMPLE: 0.4, Task.CODE: 0.3, Task.COMPLEX_REASONING: 0.1, Task.EMBEDDING: 0.2}
EMBED_TEXTS = ("the quick brown fox", "routing decisions under load", "a vector for this sentence")
MAX_IN_FLIGHT = 400  # beyond this, arrivals are dropped rather than queued without bound


class LoadGenerator:
    def __init__(
        self,
        router: Router,
        rate_per_s: float,
        *,
        mix: Mapping[Task, float] = DEFAULT_MIX,
        examples: Mapping[Task, Sequence[str]] = DEFAULT_EXAMPLES,
        max_tokens: tuple[int, int] = (16, 160),
        seed: int | None = None,
    ) -> None:
        self._router = router
        self._rate = max(0.0, rate_per_s)
        self._tasks = list(mix)
        self._weights = [mix[task] for task in self._tasks]
        self._examples = examples
        self._max_tokens = max_tokens
        self._rng = random.Random(seed)
        self._rate_changed = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.dropped = 0

    @property
    def rate_per_s(self) -> float:
        return self._rate

    def set_rate(self, rate_per_s: float) -> None:
        if rate_per_s < 0:
            raise ValueError("the load rate must be ≥ 0")
        self._rate = rate_per_s
        self._rate_changed.set()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._arrivals(), name="zeta-loadgen")

    async def stop(self) -> None:
        tasks = [task for task in (self._runner, *self._in_flight) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner = None

    async def _arrivals(self) -> None:
        while True:
            self._rate_changed.clear()
            delay = self._rng.expovariate(self._rate) if self._rate > 0 else None
            try:
                await asyncio.wait_for(self._rate_changed.wait(), delay)
                continue  # a new rate: draw the next gap from it
            except TimeoutError:
                pass
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                self.dropped += 1
                continue
            task = asyncio.get_running_loop().create_task(self._one(self._rng.choices(self._tasks, self._weights)[0]))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            self.sent += 1

    async def _one(self, task: Task) -> None:
        """One request; its outcome is the router's to record, so errors end here."""
        try:
            if task is Task.EMBEDDING:
                await self._router.embed(EmbedRequest(input=self._rng.choice(EMBED_TEXTS), client=CLIENT))
                return
            prompt = self._rng.choice(tuple(self._examples.get(task, ())) or ("hello",))
            request = ChatRequest(
                messages=[{"role": "user", "content": prompt}],
                options={"num_predict": self._rng.randint(*self._max_tokens)},
                client=CLIENT,
            )
            async with self._router.chat(request) as stream:
                async for _ in stream:
                    pass
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - recorded by the router as the request's outcome
            return

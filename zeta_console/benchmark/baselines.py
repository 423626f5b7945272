"""Bench-only policies: `round_robin` (a naive baseline) and `oracle` (the upper bound).

Neither is a product policy. Both reuse the product policies' stage-1 screening (capability,
route, tried, drained, health), so they differ from them only in how they pick an endpoint.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

from zeta_console.router.candidates import DecisionInput
from zeta_console.router.policies import Policy, PolicyFactory, PolicyResult
from zeta_console.router.policies.base import assemble, nothing_available, pick_lowest, scored_candidate, screen, seconds, with_notes
from zeta_console.settings import Settings, Task
from zeta_console.wording import counted

ROUND_ROBIN = "round_robin"
ORACLE = "oracle"


class RoundRobinPolicy:
    """Cycles through every endpoint of every capable tier in the route, one task type at a time.
    Load-blind by design: it never waits, Ollama queues what it sends."""

    name = ROUND_ROBIN

    def __init__(self, settings: Settings) -> None:
        self._routes = settings.routes
        self._turns: dict[Task, Iterator[int]] = {}

    def decide(self, inp: DecisionInput) -> PolicyResult:
        s = screen(inp, self._routes)
        if not s.pool:
            return nothing_available(inp, s, self.name)
        turns = self._turns.setdefault(inp.classification.task, itertools.count())
        chosen = s.pool[next(turns) % len(s.pool)]
        scored = {e.id: scored_candidate(e, 0.0 if e is chosen else 1.0, {}) for e in s.pool}
        reason = with_notes(f"{chosen.id}: next in turn among {counted(len(s.pool), 'capable endpoint')}", s)
        return PolicyResult(chosen.id, assemble(inp.endpoints, scored, s.rejected), reason)


class Truth(Protocol):
    """The emulator's true state, which no real policy can see."""

    def predicted_ttft_s(self, host: str, model: str, prompt_tokens: int) -> float | None:
        """Expected time to first token if sent now; None when the endpoint cannot answer."""
        ...


class OraclePolicy:
    """Picks the endpoint with the least true expected time to first token, read from the
    emulator itself (queue, busy slots, residency, injected slowdown). Ignores tier preference:
    it is the latency bound, not a quality-aware policy."""

    name = ORACLE

    def __init__(self, settings: Settings, truth: Truth) -> None:
        self._routes = settings.routes
        self._truth = truth

    def decide(self, inp: DecisionInput) -> PolicyResult:
        s = screen(inp, self._routes)
        predictions = [self._truth.predicted_ttft_s(e.host, e.model, inp.prompt_tokens) for e in s.pool]
        pool = [(e, ttft) for e, ttft in zip(s.pool, predictions, strict=True) if ttft is not None]
        for e, ttft in zip(s.pool, predictions, strict=True):
            if ttft is None:
                s.rejected[e.id] = "down (emulator truth)"
        if not pool:
            s.pool = []
            return nothing_available(inp, s, self.name)
        best = pick_lowest([ttft for _, ttft in pool], inp.rng)
        chosen, ttft = pool[best]
        scored = {e.id: scored_candidate(e, prediction, {"true_ttft_s": prediction}) for e, prediction in pool}
        reason = with_notes(f"{chosen.id}: least true expected TTFT {seconds(ttft)}", s)
        return PolicyResult(chosen.id, assemble(inp.endpoints, scored, s.rejected), reason)


def oracle_factory(truth: Truth) -> PolicyFactory:
    def build(settings: Settings) -> Policy:
        return OraclePolicy(settings, truth)

    return build


BASELINES = (ROUND_ROBIN, ORACLE)


def baseline_factories(truth: Truth) -> dict[str, PolicyFactory]:
    """The bench-only policies by name. They stay out of the router's registry, which the
    configuration and the console offer: neither is a policy an operator should pick."""
    return {ROUND_ROBIN: RoundRobinPolicy, ORACLE: oracle_factory(truth)}


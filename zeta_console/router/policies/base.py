"""What every policy shares: the result type, stage-1 screening, and candidate bookkeeping.

Policies are pure and on the hot path of every request, so these helpers avoid per-call
allocations where they can: excluded candidates are cached, reason strings are built only for
the winner, and `adaptive`, `threshold` and `least_load` rank on bare numbers and build the candidates
(with their terms) only when the result's `candidates` is first read.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from zeta_console.router.api import CandidateScore, EndpointStatus
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.settings import Settings, Task

EXCLUDED_SCORE = math.inf  # the score of a candidate that was never scored
NO_TERMS: Mapping[str, float] = MappingProxyType({})

# Exclusion reasons (CandidateScore.excluded).
INCAPABLE = "incapable"
NOT_IN_ROUTE = "not in route"
ALREADY_TRIED = "already tried"
DRAINED = "drained"
LATER_IN_ROUTE = "later in route"

# An endpoint never measured is seeded from its tier's TTFT threshold, as its prefill and decode are
# (prediction.py), so that the seeds follow a time-scaled emulator as the thresholds do.
SEED_SERVICE_PER_TTFT_THRESHOLD = 5.0  # how long it holds a slot: 10 s at the default 2 s, conservative
SEED_LOAD_PER_TTFT_THRESHOLD = 1.5  # its cold start: 3 s at 2 s (the emulated models load in 2-5 s)
STALE_TELEMETRY_S = 30.0  # an endpoint silent for longer counts as saturated (adaptive)

_DRAINED = EndpointStatus.DRAINED
_MISSING = EndpointStatus.MISSING
# Not in the pool; ejected and down ones only as a last resort.
_SCREENED_OUT = frozenset((EndpointStatus.EJECTED, EndpointStatus.DOWN, _DRAINED, _MISSING))


Candidates = tuple[CandidateScore, ...]


class PolicyResult:
    """What a policy decided. `candidates` and `reason` may be given as functions that build them:
    they are then built on first read (when the router records the Decision of a dispatched request),
    not while ranking, so a decision costs only what choosing needs (a request waiting in the queue
    decides again on every wake and a hedge looks for a target, neither reads them)."""

    __slots__ = ("_candidates", "_reason", "chosen", "wait")

    def __init__(
        self, chosen: str | None, candidates: Candidates | Callable[[], Candidates], reason: str | Callable[[], str], wait: bool = False
    ) -> None:
        self.chosen = chosen  # endpoint id; None = nothing can take it now
        self._candidates = candidates
        self._reason = reason
        # True = every eligible endpoint is at its slot limit: hold the request and decide again when a
        # slot frees (late binding). `chosen` then names the endpoint the request would queue for.
        self.wait = wait

    @property
    def candidates(self) -> Candidates:
        """Every endpoint of the fleet: scored, or with `excluded`."""
        if not isinstance(self._candidates, tuple):
            self._candidates = self._candidates()
        return self._candidates

    @property
    def reason(self) -> str:
        """One human line: why this endpoint."""
        if not isinstance(self._reason, str):
            self._reason = self._reason()
        return self._reason


class Policy(Protocol):
    name: str

    def decide(self, inp: DecisionInput) -> PolicyResult: ...


class ScreenedPolicy(ABC):
    """A policy that applies the shared screening, then chooses among the pool it leaves."""

    name: str

    def __init__(self, settings: Settings) -> None:
        self._routes = settings.routes

    def decide(self, inp: DecisionInput) -> PolicyResult:
        s = screen(inp, self._routes)
        if not s.pool:
            return nothing_available(inp, s, self.name)
        return self.choose(inp, s)

    @abstractmethod
    def choose(self, inp: DecisionInput, s: Screen) -> PolicyResult:
        """Pick from `s.pool` (never empty); every endpoint must end up in the candidates."""


@dataclass(slots=True)
class Screen:
    """Stage 1 of a decision: which tiers, and which of their endpoints may take the request."""

    tiers: tuple[str, ...]  # preference order, pin applied
    pool: list[EndpointState]  # endpoints that may be chosen, fleet order
    rejected: dict[str, str]  # endpoint id -> why it cannot be chosen
    notes: list[str]  # facts the reason must mention (pin ignored, last resort)


def screen(inp: DecisionInput, routes: Mapping[Task, tuple[str, ...]]) -> Screen:
    """Apply the filters every policy shares: capability, route (or pin), tried, drained, health.

    When only ejected or down endpoints could serve the request they stay in the pool (ejected
    before down) rather than failing it silently; a note says so. A model its host has not
    installed is never tried: its exclusion says what the host has instead.
    """
    needs = inp.needs
    endpoints = inp.endpoints
    notes: list[str] = []
    tiers = _stage_one_tiers(inp, routes, notes)
    tried = inp.excluded
    rejected: dict[str, str] = {}
    reachable: list[EndpointState] = []
    broken: list[EndpointState] = []
    for e in endpoints:
        status = e.status
        if not needs <= e.capabilities:
            rejected[e.id] = INCAPABLE
        elif e.tier not in tiers:
            rejected[e.id] = NOT_IN_ROUTE
        elif e.id in tried:
            rejected[e.id] = ALREADY_TRIED
        elif not e.drained and status not in _SCREENED_OUT:  # the common case first, in two tests
            reachable.append(e)
        elif e.drained or status == _DRAINED:
            rejected[e.id] = DRAINED
        elif status == _MISSING:
            rejected[e.id] = f"{_MISSING}: {e.status_reason}"
        else:  # ejected or down
            broken.append(e)
    if reachable or not broken:
        for e in broken:
            rejected[e.id] = str(e.status)
        return Screen(tiers, reachable, rejected, notes)
    ejected = [e for e in broken if e.status == EndpointStatus.EJECTED]
    last_resort = ejected or broken
    for e in broken:
        if e not in last_resort:
            rejected[e.id] = str(e.status)
    notes.append("only " + "/".join(sorted({str(e.status) for e in last_resort})) + " endpoints can serve it; trying the least bad")
    return Screen(tiers, last_resort, rejected, notes)


def _stage_one_tiers(inp: DecisionInput, routes: Mapping[Task, tuple[str, ...]], notes: list[str]) -> tuple[str, ...]:
    pin = inp.pinned_tier
    if pin is None:
        return inp.route
    needs = inp.needs
    if any(e.tier == pin and needs <= e.capabilities for e in inp.endpoints):
        return (pin,)
    notes.append(f"pin to {pin} ignored: it cannot serve {'+'.join(sorted(needs))}")
    # The route may or may not already start with the pin; without it, fall back to the table.
    return tuple(t for t in inp.route if t != pin) or routes.get(inp.classification.task, ())


_excluded_cache: dict[tuple[str, str, str], CandidateScore] = {}


def excluded_candidate(e: EndpointState, reason: str) -> CandidateScore:
    """An unscored candidate. Cached: endpoints and exclusion reasons are few and immutable."""
    key = (e.id, e.model, reason)
    candidate = _excluded_cache.get(key)
    if candidate is None:
        candidate = CandidateScore(e.id, e.tier, e.model, e.host, EXCLUDED_SCORE, NO_TERMS, reason)
        _excluded_cache[key] = candidate
    return candidate


_new_object = object.__new__


def scored_candidate(e: EndpointState, score: float, terms: Mapping[str, float], excluded: str | None = None) -> CandidateScore:
    # Filling the instance dict directly skips the frozen dataclass's field-by-field
    # object.__setattr__ calls: a third of the cost, on the hottest line of every decision.
    # tests/test_policy.py checks the result equals the normally constructed candidate.
    candidate = _new_object(CandidateScore)
    fields = candidate.__dict__
    fields["endpoint"] = e.id
    fields["tier"] = e.tier
    fields["model"] = e.model
    fields["host"] = e.host
    fields["score"] = score
    fields["terms"] = terms
    fields["excluded"] = excluded
    return candidate


def assemble(
    endpoints: Sequence[EndpointState], scored: Mapping[str, CandidateScore], rejected: Mapping[str, str]
) -> tuple[CandidateScore, ...]:
    """Every endpoint of the fleet in fleet order: its scored candidate or its exclusion."""
    get = scored.get
    return tuple([get(e.id) or excluded_candidate(e, rejected[e.id]) for e in endpoints])


def runner_up(scores: Sequence[float], indices: Iterable[int], chosen: int) -> int | None:
    """Of `indices`, the one with the best score after the chosen one (the first of equals): what the winner beat."""
    beaten = None
    beaten_score = 0.0
    for i in indices:
        if i != chosen and (beaten is None or scores[i] < beaten_score):
            beaten, beaten_score = i, scores[i]
    return beaten


def pick_lowest(scores: Sequence[float], rng: random.Random, ranks: Sequence[int] | None = None) -> int:
    """Index of the lowest score. Ties go to the lowest route rank when `ranks` is given, then
    are broken at random so that no endpoint is favoured by its position in the fleet."""
    best = min(scores)
    if scores.count(best) == 1:  # the common case, without building the list of ties
        return scores.index(best)
    ties = [i for i, s in enumerate(scores) if s == best]
    if ranks is not None and len(ties) > 1:
        top = min(ranks[i] for i in ties)
        ties = [i for i in ties if ranks[i] == top]
    return ties[0] if len(ties) == 1 else rng.choice(ties)


def on_server(e: EndpointState) -> int:
    """Requests on the endpoint's server now: its own count where it reports one (which includes what
    this router sent since the reading, `view.combined_queue`), else this router's in flight."""
    running = e.server_running
    return e.in_flight if running is None else running + (e.server_waiting or 0)


def capacity(e: EndpointState) -> int:
    """How many requests the endpoint's server runs at once: as it reports, else the configured slots."""
    slots = e.slots if e.server_slots is None else e.server_slots
    return slots if slots > 0 else 1


def queue_estimate(e: EndpointState) -> int:
    """Requests waiting for this endpoint: in the router, and on the server (as it reports, else the
    router's own in flight beyond the slots: Ollama queues those)."""
    waiting = e.server_waiting
    if waiting is None:
        over = e.in_flight - e.slots
        waiting = over if over > 0 else 0
    return e.queued + waiting


def outstanding(e: EndpointState) -> int:
    """Work ahead of a new request. A recent fast failure (503 queue full) counts as load, so an
    endpoint shedding requests does not look idle (olla #144)."""
    return on_server(e) + e.queued + e.recent_fast_failures


def has_free_slot(e: EndpointState) -> bool:
    """A request sent now starts at once: the work ahead of it (`outstanding`) leaves a slot, so its predicted wait is 0."""
    return outstanding(e) < capacity(e)


def server_count(e: EndpointState) -> str:
    """The server's own count, for a reason: "server 1/1 busy, 2 waiting"; "" when it reports none."""
    if e.server_running is None:
        return ""
    return f"server {e.server_running}/{e.server_slots} busy, {e.server_waiting} waiting"


def server_notes(*endpoints: EndpointState | None) -> str:
    """The servers' own counts behind a decision: "a@gpu1 server 1/1 busy, 2 waiting, b@gpu2 server 0/1 busy, 0 waiting"."""
    return ", ".join([f"{e.id} {server_count(e)}" for e in endpoints if e is not None and e.server_running is not None])


def service_time_s(e: EndpointState) -> float | None:
    """How long one request holds a slot: the latency EWMA, else the p95; None when never measured."""
    return e.latency_ewma_s if e.latency_ewma_s is not None else e.latency_p95_s


def seed_service_s(e: EndpointState) -> float:
    return e.thresholds.ttft_s * SEED_SERVICE_PER_TTFT_THRESHOLD


def seed_load_s(e: EndpointState) -> float:
    return e.thresholds.ttft_s * SEED_LOAD_PER_TTFT_THRESHOLD


def predicted_wait_s(endpoints: Iterable[EndpointState]) -> float:
    """How long a new request waits for a slot on whichever of `endpoints` frees first: the work
    ahead of it beyond their slots (`outstanding`), served at their combined rate (slots per
    service time each; the seed for an endpoint never measured), the first of it by the soonest
    expected end of a request under way (`frees_in_s`) where one is known: a request that has run
    most of its answer leaves the rest of it to wait, not a whole turn."""
    ahead = 1
    per_s = 0.0
    first: float | None = None
    for e in endpoints:
        slots = capacity(e)
        service = service_time_s(e)
        ahead += outstanding(e) - slots
        per_s += slots / (service if service is not None else seed_service_s(e))
        frees_in = e.frees_in_s
        if frees_in is not None and (first is None or frees_in < first):
            first = frees_in
    if ahead <= 0 or per_s <= 0:
        return 0.0
    return ahead / per_s if first is None else (ahead - 1) / per_s + first


def all_full(pool: Sequence[EndpointState]) -> bool:
    """Every endpoint at its slot limit in this router's own count: the router holds the request until
    one of its own requests ends (a server busy with other clients' work wakes nobody when it frees)."""
    for e in pool:  # noqa: SIM110 - a plain loop: no generator object per decision on the hot path
        if e.in_flight < e.slots:
            return False
    return True


def ttft_estimate(e: EndpointState) -> float:
    """Peak-EWMA TTFT, or the endpoint's own TTFT threshold as a conservative seed."""
    return e.ttft_ewma_s if e.ttft_ewma_s is not None else e.thresholds.ttft_s


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def with_notes(reason: str, screen_: Screen, *extra: str) -> str:
    if not screen_.notes and not any(extra):
        return reason
    parts = [reason, *extra, *screen_.notes]
    return "; ".join(p for p in parts if p)


def unavailable(tier: str, endpoints: Sequence[EndpointState], screen_: Screen) -> str:
    """Why a tier of the route had nothing to offer: "reasoner unavailable (reasoner@local ejected)"."""
    why = ", ".join(f"{e.id} {screen_.rejected[e.id]}" for e in endpoints if e.tier == tier and e.id in screen_.rejected)
    return f"{tier} unavailable ({why})" if why else f"{tier} unavailable (no endpoint)"


def nothing_available(inp: DecisionInput, screen_: Screen, policy: str) -> PolicyResult:
    """No endpoint may take the request: name each capable one and why, so the operator can act."""
    task = inp.classification.task.value
    if not screen_.tiers:  # a chat-only or embed-only fleet: not a passing state, so no "now"
        return PolicyResult(
            None, assemble(inp.endpoints, {}, screen_.rejected), f"{policy}: no route for {task} (routes.{task} names no tier)"
        )
    blocked = [f"{e.id} {screen_.rejected[e.id]}" for e in inp.endpoints if screen_.rejected.get(e.id) not in (INCAPABLE, NOT_IN_ROUTE)]
    why = (
        ", ".join(blocked)
        if blocked
        else f"no endpoint in route {' > '.join(screen_.tiers) or '(empty)'} can serve {'+'.join(sorted(inp.needs))}"
    )
    reason = with_notes(f"{policy}: nothing can take {task} now: {why}", screen_)
    return PolicyResult(None, assemble(inp.endpoints, {}, screen_.rejected), reason)

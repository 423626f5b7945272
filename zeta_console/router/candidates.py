"""The input of a routing decision: what a policy knows about each endpoint right now.

`router.py` builds these from live metrics and health; policies (pure functions in
`policy.py`) turn them into a Decision. Keeping the boundary as plain data is what makes the
policies table-testable over synthetic states and cheap to benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from zeta_console.router.api import Classification, EndpointStatus, Ranking
from zeta_console.settings import Task, Thresholds


@dataclass(frozen=True)
class EndpointState:
    id: str  # "tier@host"
    tier: str
    model: str
    host: str
    capabilities: frozenset[str]
    slots: int
    in_flight: int  # dispatched by this router and not finished
    queued: int  # waiting in the router for this endpoint
    status: EndpointStatus
    drained: bool
    thresholds: Thresholds  # effective (per-model override or global)
    ttft_ewma_s: float | None = None  # peak-EWMA of time to first token
    ttft_p95_s: float | None = None
    latency_p95_s: float | None = None
    prefill_s_per_token: float | None = None  # EWMA
    decode_tps: float | None = None  # EWMA, tokens/s
    load_s: float | None = None  # EWMA of cold-start time
    resident: bool | None = None  # from /api/ps; None = unknown
    error_rate: float = 0.0  # rolling 0..1
    recent_fast_failures: int = 0  # failures that answered quicker than a real answer would (e.g. 503s)
    last_sample_age_s: float | None = None  # staleness of the telemetry (freshest probe or response); None = unknown, not stale
    latency_ewma_s: float | None = None  # peak-EWMA of total latency: the expected service time of a queued request
    # How soon the first of this router's requests on it is expected to end (by its decision's predicted completion;
    # one past it, as long again as it has overrun: `SlotTable.frees_in_s`), seconds from now: a request waiting for it
    # waits that long for the first slot, not a whole service time. None: no request on it has a prediction.
    frees_in_s: float | None = None
    status_reason: str = ""  # why the status is what it is (a MISSING endpoint's exclusion names it)
    ttft_overhead_s: float | None = None  # the host's recent median of TTFT beyond load, prefill and the first step
    # The server's own counts (its gauges, plus what this router sent there since they were read) and the
    # slots it runs, when it has gauges and they are fresh; None: it has none (Ollama) or they are unknown
    # or stale, and policies count this router's own `in_flight` against `slots`.
    server_running: int | None = None
    server_waiting: int | None = None
    server_slots: int | None = None
    # The prefill and decode rates above are read relaxed towards their long-run levels as their last sample ages (metrics.py
    # `LongRunLevel`): the largest factor that moved one of them, 1.0 while answers keep them fresh.
    estimates_relaxed_by: float = 1.0
    # Requests this router sent here per second, recently (decayed; hedges included); read for a streamed request's
    # decision only (`Ranking.READER`: adaptive's `hold_s`), 0.0 in the others'.
    arrivals_per_s: float = 0.0
    # The endpoint's last `silent_attempts` attempts were cut by hedges past their predictions with no first token since:
    # its next first token is predicted no sooner than `silent_s` (`EndpointMetrics.silent_s`; 0: no such floor).
    silent_s: float = 0.0
    silent_attempts: int = 0


@dataclass(frozen=True)
class SessionHint:
    """What the router remembers of the request's session (router/affinity.py)."""

    key: str
    holder: str | None  # the endpoint whose prompt cache holds the session's prefix; None: no endpoint known
    cached_tokens: int  # how much of this request's prompt that cache should serve (estimated)
    margin: float  # affinity.margin
    unheld: str = ""  # why no endpoint is known ("new session", "forgotten: idle ...")
    held: Mapping[str, float] = field(default_factory=dict)  # endpoint id -> sessions expected back (where a new one fits best)


@dataclass(frozen=True)
class DecisionInput:
    request_id: str
    classification: Classification
    route: tuple[str, ...]  # tiers in preference order for this task, pins already applied
    pinned_tier: str | None  # the pin in force for this task, if any
    endpoints: tuple[EndpointState, ...]  # every endpoint of the fleet
    prompt_tokens: int  # estimated
    needs: frozenset[str]  # capabilities the request needs, e.g. {"completion"} or {"embedding", }
    feedback_weights: Mapping[tuple[Task, str], float] = field(default_factory=dict)  # (task, tier) -> multiplier, 1.0 = neutral
    excluded: frozenset[str] = frozenset()  # endpoints already tried for this request (failover)
    rng: random.Random = field(default_factory=random.Random)
    ranking: Ranking = Ranking.COMPLETION  # what the caller waits for
    expected_output_tokens: Mapping[str, float] = field(default_factory=dict)  # tier -> learned output length for this task
    max_output_tokens: int | None = None  # the request's own cap (num_predict)
    session: SessionHint | None = None  # a conversation the router has seen: prefer its cache holder (adaptive)

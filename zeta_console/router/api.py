"""What the router shows and accepts: the one interface its clients (the console, `serve`, the
load generator) use, `Router`.

Everything else here is plain, immutable data. Clients send requests (`chat`, `generate`,
`embed`), read snapshots (`RouterSnapshot`) and a stream of events (`Decision`,
`RequestRecord`, `OperatorAction`), and command the router through its `RouterControls`.
Nothing here imports the UI.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from zeta_console.backends.types import Delta, Embeddings, QueueSignals, RawChunk, RawReply
from zeta_console.backends.types import ErrorKind as ErrorKind  # records carry the backend's kind; importers may take it from here
from zeta_console.settings import PolicyName, Task, Thresholds

if TYPE_CHECKING:  # types only: readers of the plain data (policies, the decision-cost bench) need not load the client
    from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest

ALL_TASKS = "*"  # the pin key that applies to every task type


class EndpointStatus(StrEnum):
    UP = "up"
    DEGRADED = "degraded"  # over a threshold, still routable
    DOWN = "down"  # unreachable (health probe or transport errors)
    MISSING = "missing"  # the host answers but has not pulled the configured model: never routed to
    EJECTED = "ejected"  # circuit open; half-open probe after `ejected_for_s`
    DRAINED = "drained"  # operator: no new work, in-flight work finishes


class Outcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # no capable endpoint could take it


@dataclass(frozen=True)
class Classification:
    task: Task
    confidence: float  # 0..1
    reason: str  # e.g. "code keywords: def, traceback"
    method: str  # "explicit" | "rules" | "semantic"


@dataclass(frozen=True)
class CandidateScore:
    """One endpoint considered for a request. Lower `score` is better."""

    endpoint: str  # endpoint id, "tier@host"
    tier: str
    model: str
    host: str
    score: float
    terms: Mapping[str, float] = field(default_factory=dict)  # e.g. {"wait_s": .., "prefill_s": .., "load_s": ..}
    excluded: str | None = None  # why it could not be chosen (drained, ejected, incapable, saturated, ...)


class Ranking(StrEnum):
    """What the caller waits for, which is what `adaptive` ranks endpoints by."""

    COMPLETION = "completion"  # the whole answer: non-streaming calls, embeddings, programs
    READER = "reader"  # a person reading a stream: TTFT plus the decode time slower than reading


@dataclass(frozen=True)
class Prediction:
    """What the router predicted for the chosen endpoint when it decided, in seconds from that instant."""

    ttft_s: float  # wait + cold load + prefill + first-token overhead
    completion_s: float  # ttft_s + expected output tokens x the endpoint's seconds per token
    output_tokens: float  # the expected output length it assumed (learned per task x tier, capped by num_predict)
    ranked_by: Ranking
    waited_s: float = 0.0  # how long the request had already waited (router queue, failed attempts) when this was decided


@dataclass(frozen=True)
class Decision:
    request_id: str
    at: float  # wall clock (time.time())
    classification: Classification
    policy: PolicyName
    candidates: tuple[CandidateScore, ...]
    chosen: str | None  # endpoint id; None when rejected
    reason: str  # one human line: why this endpoint
    pins: Mapping[str, str] = field(default_factory=dict)  # task (or "*") -> tier in force
    fallbacks: tuple[str, ...] = ()  # endpoints tried before `chosen` that failed pre-first-token
    client: str = "local"  # who asked: "prompt", "loadgen", "serve:127.0.0.1", "route", ...
    prediction: Prediction | None = None  # for the chosen endpoint; None when nothing was chosen


@dataclass(frozen=True)
class RequestRecord:
    """A finished request: every routed request produces exactly one, whatever its outcome."""

    request_id: str
    decision: Decision
    endpoint: str | None
    model: str | None
    started_at: float  # wall clock
    ttft_s: float | None
    total_s: float
    prompt_tokens: int | None
    output_tokens: int | None
    outcome: Outcome
    error_kind: ErrorKind | None = None
    error: str | None = None
    prompt: str | None = None  # only when the journal is configured to store prompts

    @property
    def actual_ttft_s(self) -> float | None:
        """The TTFT measured from the decision's instant: what `decision.prediction.ttft_s` predicted."""
        waited = self.decision.prediction.waited_s if self.decision.prediction else 0.0
        return None if self.ttft_s is None else max(0.0, self.ttft_s - waited)

    @property
    def actual_completion_s(self) -> float | None:
        """The completion time from the decision's instant, for an answered request."""
        if self.outcome is not Outcome.OK:
            return None
        waited = self.decision.prediction.waited_s if self.decision.prediction else 0.0
        return max(0.0, self.total_s - waited)


@dataclass(frozen=True)
class OperatorAction:
    at: float
    action: str  # "set_policy", "set_threshold", "pin", "unpin", "drain", "undrain", "eject", "restore", "set_hedging",
    # "set_tier_tolerance"
    target: str  # e.g. "thresholds.ttft_s", "reasoner", "coder@local", "complex_reasoning", "hedging"
    old: str
    new: str
    source: str = "operator"  # "console", "serve", "api", "config"


@dataclass(frozen=True)
class HostResources:
    cpu_percent: float | None
    memory_percent: float | None
    gpu_percent: float | None = None
    gpu_memory_percent: float | None = None


@dataclass(frozen=True)
class EndpointSnapshot:
    id: str  # "tier@host"
    tier: str
    model: str
    host: str
    url: str
    capabilities: frozenset[str]  # the configured ones plus what the host's /api/show reported (what the router routes by)
    status: EndpointStatus
    status_reason: str  # why, for every state in `states`
    states: tuple[EndpointStatus, ...]  # every state that applies (drained and ejected, say), `status` first
    ejected_for_s: float | None  # time left until the half-open probe
    drained: bool
    slots: int
    in_flight: int  # dispatched to the endpoint and not finished
    queued: int  # waiting in the router for a slot on this endpoint
    ttft_ewma_s: float | None  # peak-EWMA
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    ttft_p99_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    decode_tps: float | None
    prefill_tps: float | None
    load_s: float | None  # cold-start time, EWMA
    successes: int
    errors: int
    error_rate: float  # rolling, 0..1
    errors_by_kind: Mapping[str, int]
    resident: bool | None  # from /api/ps; None = unknown
    size_bytes: int | None
    size_vram_bytes: int | None
    expires_at: float | None  # wall clock, keep-alive expiry
    ttft_history: tuple[float, ...]  # bounded, oldest first, for sparklines
    latency_history: tuple[float, ...]
    tps_history: tuple[float, ...]
    server: str = ""  # what the host runs, as people call it: "Ollama", "llama.cpp", "vLLM", "SGLang", "OpenAI-compatible"
    # The server's own gauges as last read, while recent (None: it has none, or the reading is stale);
    # figures it did not give, or a read that failed, are None.
    server_signals: QueueSignals | None = None
    # The last cold load (Ollama's load_duration), while it is inside the percentile window: the TTFT and latency
    # figures leave loads out (a load is not serving time), so the card says that one happened.
    last_cold_load_s: float | None = None


@dataclass(frozen=True)
class HedgingSnapshot:
    """Hedging before the first token: the live switch, what it did since the router started, its budget."""

    enabled: bool
    sent: int  # hedges sent
    won: int  # ... whose first token came first
    cancelled: int  # attempts cancelled because the other attempt answered first
    denied: int  # late first tokens left unhedged: the budget was spent
    budget: float  # hedges the token bucket allows now
    ratio: float  # the share of requests hedges may add


@dataclass(frozen=True)
class RouterSnapshot:
    taken_at: float  # wall clock
    policy: PolicyName
    policies: tuple[PolicyName, ...]  # every policy set_policy accepts (the registry's names)
    pins: Mapping[str, str]
    thresholds: Thresholds
    endpoints: tuple[EndpointSnapshot, ...]
    requests_per_s: float
    error_rate: float  # rolling, 0..1, of the requests not shed
    total_requests: int
    hosts: Mapping[str, HostResources]
    differs_from_config: frozenset[str]  # setting names the operator changed, e.g. {"policy", "thresholds.ttft_s"}
    installed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # host -> models it has pulled (/api/tags), where known
    hedging: HedgingSnapshot | None = None
    shed_rate: float = 0.0  # rolling, 0..1, of every request: refused for load (503); `error_rate` is of the others
    tier_tolerance: float = 1.0  # adaptive's preference for the route's order in force (1 = time alone)


@dataclass(frozen=True)
class EmbedResult:
    response: Embeddings
    decision: Decision


RouterEvent = Decision | RequestRecord | OperatorAction
EventListener = Callable[[RouterEvent], None]


class RouterControls(Protocol):
    """Operator controls. Each applies to the next decision, is recorded as an OperatorAction
    (returned), and is undone by applying the old value. Invalid input raises ValueError with a
    message fit to show the operator."""

    def set_policy(self, policy: PolicyName | str, source: str = "operator") -> OperatorAction: ...
    def set_threshold(self, name: str, value: Any, tier: str | None = None, source: str = "operator") -> OperatorAction: ...
    def pin(self, tier: str, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction: ...
    def unpin(self, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction: ...
    def drain(self, endpoint: str, source: str = "operator") -> OperatorAction: ...
    def undrain(self, endpoint: str, source: str = "operator") -> OperatorAction: ...
    def eject(self, endpoint: str, source: str = "operator") -> OperatorAction: ...
    def restore(self, endpoint: str, source: str = "operator") -> OperatorAction: ...
    def set_hedging(self, enabled: bool, source: str = "operator") -> OperatorAction: ...  # the live switch
    def set_tier_tolerance(self, value: Any, source: str = "operator") -> OperatorAction: ...  # adaptive.tier_tolerance, live
    def revert_to_config(self, source: str = "operator") -> tuple[OperatorAction, ...]: ...
    def differs_from_config(self) -> frozenset[str]: ...
    def thresholds_for(self, tier: str) -> Thresholds: ...  # effective: config, then the operator's changes


@dataclass(frozen=True)
class RelayedReply:
    """A relayed embedding: the server's bytes, and the decision that chose the server."""

    reply: RawReply
    decision: Decision


Chunk = TypeVar("Chunk", Delta, RawChunk)


class RoutedPieces(Protocol[Chunk]):
    """A routed chat or generate: iterate its pieces, or `aclose()` it to cancel."""

    @property
    def decision(self) -> Decision | None: ...  # the decision in force (it changes on failover before the first token)
    @property
    def record(self) -> RequestRecord | None: ...  # once the request has finished
    def __aiter__(self) -> AsyncIterator[Chunk]: ...
    async def __anext__(self) -> Chunk: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> RoutedPieces[Chunk]: ...
    async def __aexit__(self, *exc_info: object) -> None: ...  # closes it


RoutedAnswer = RoutedPieces[Delta]  # through the backends, as deltas
RoutedRelay = RoutedPieces[RawChunk]  # relayed as the server wrote it


class Upstream(Protocol):
    """Where a relayed request goes: the endpoint the router chose, its host's URL and its model."""

    @property
    def id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def model(self) -> str: ...


class Relay(Protocol):
    """The caller's relay of a chat or generate in its client's dialect (serve's pass-through).

    The router calls `open` for an endpoint whose host speaks one of `apis`; any other endpoint is
    reached through its backend and each delta written in the client's dialect by a fresh
    `translator()` (one per attempt: a translator may keep state across its stream). A relay whose
    `apis` name every kind of host has no `translator` (None): `open` reaches every endpoint. A `whole`
    relay's `open` yields the whole answer as one piece (the client asked for no stream): it has no
    first token, so the router waits for it up to the total deadline, sends no hedge, and takes the
    TTFT as the time to the answer less the server's reported decode time (none without one)."""

    @property
    def apis(self) -> frozenset[str]: ...  # the hosts relayed to, as a host's `api` names its kind
    @property
    def whole(self) -> bool: ...
    def open(self, upstream: Upstream) -> Awaitable[AsyncGenerator[RawChunk, None]]: ...
    @property
    def translator(self) -> Callable[[], Callable[[Delta], RawChunk]] | None: ...


class RelayEmbed(Protocol):
    """The caller's relay of an embedding: `send` for a host speaking one of `apis`, `translated` otherwise
    (None when `apis` name every kind of host: `send` reaches every endpoint)."""

    @property
    def apis(self) -> frozenset[str]: ...
    def send(self, upstream: Upstream) -> Awaitable[RawReply]: ...
    @property
    def translated(self) -> Callable[[Embeddings], RawReply] | None: ...


class Router(Protocol):
    """The router as its clients use it (`ZetaDynamicRouter` satisfies this)."""

    @property
    def controls(self) -> RouterControls: ...
    def chat(self, request: ChatRequest) -> RoutedAnswer: ...
    def generate(self, request: GenerateRequest) -> RoutedAnswer: ...
    async def embed(self, request: EmbedRequest) -> EmbedResult: ...
    # The same requests, routed alike, with the caller carrying the bytes to the endpoint chosen
    # (its host speaks the client's dialect): no per-chunk conversion.
    def relay(self, request: ChatRequest | GenerateRequest, relay: Relay) -> RoutedRelay: ...
    async def relay_embed(self, request: EmbedRequest, relay: RelayEmbed) -> RelayedReply: ...
    def snapshot(self) -> RouterSnapshot: ...
    def subscribe(self, listener: EventListener) -> Callable[[], None]: ...  # returns unsubscribe

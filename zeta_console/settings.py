"""The typed, immutable settings every layer reads.

The defaults here are the shipped configuration: three tiers on one local Ollama host.
`config.py` turns a YAML file into a `Settings` (validating as it goes); the shipped
`config.yaml` spells these same defaults out with comments, and a test keeps the two equal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import NewType, TypeVar

from zeta_console.errors import UserError


class Task(StrEnum):
    SIMPLE = "simple"
    CODE = "code"
    COMPLEX_REASONING = "complex_reasoning"
    EMBEDDING = "embedding"


# A routing policy's name: a key of the router's policy registry (`router.policies.POLICIES`),
# which is the one list of names; config.py and the router's set_policy check names against it.
PolicyName = NewType("PolicyName", str)
DEFAULT_POLICY = PolicyName("adaptive")


CAPABILITIES = frozenset({"completion", "embedding", "thinking", "tools", "insert", "vision"})


def default_ollama_url() -> str:
    """The default host follows OLLAMA_HOST, as the ollama CLI and client do."""
    raw = os.environ.get("OLLAMA_HOST", "")
    url = ollama_url(raw)
    port = url.rpartition(":")[2]
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"OLLAMA_HOST={raw!r}: expected host:port with a port 1-65535, e.g. 127.0.0.1:11434", exit_code=2)
    return url


def ollama_url(raw: str) -> str:
    """An Ollama address as OLLAMA_HOST accepts it ("host", ":port", "host:port", a URL) as a URL."""
    raw = raw.strip()
    if not raw:
        return "http://127.0.0.1:11434"
    if "://" not in raw:
        raw = "http://" + raw
    scheme, rest = raw.split("://", 1)
    hostport = rest.split("/", 1)[0]
    if hostport.startswith(":"):
        hostport = "127.0.0.1" + hostport
    if ":" not in hostport.rsplit("]", 1)[-1]:
        hostport += ":11434"
    return f"{scheme}://{hostport}"


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _frozen(mapping: Mapping[_Key, _Value]) -> Mapping[_Key, _Value]:
    return MappingProxyType(dict(mapping))


class Telemetry(StrEnum):
    """Where a host's own load figures come from (backends-api.md §8); auto: as the server reveals itself."""

    AUTO = "auto"
    LLAMACPP = "llamacpp"
    VLLM = "vllm"
    SGLANG = "sglang"
    NONE = "none"


@dataclass(frozen=True)
class HostConfig:
    name: str
    url: str
    api: str = "ollama"  # the kind of server: a name in backends.registry.BACKENDS
    api_key_env: str | None = None  # the environment variable holding the host's API key (never the key itself)
    telemetry: Telemetry = Telemetry.AUTO

    @property
    def unset_key_variable(self) -> str | None:
        """`api_key_env` when that variable is unset or empty: the host is then sent no key. A warning,
        not an error: a local server started without --api-key ignores the key, and one that wants it
        says 401, so the other hosts keep working."""
        return self.api_key_env if self.api_key_env and not os.environ.get(self.api_key_env) else None


@dataclass(frozen=True)
class Thresholds:
    """Limits beyond which an endpoint counts as degraded (threshold policy, saturation gate)."""

    ttft_s: float = 2.0
    latency_s: float = 60.0
    queue: int = 4
    error_rate: float = 0.25


@dataclass(frozen=True)
class ModelConfig:
    """One tier: an Ollama model served from one or more hosts (each host x model = an endpoint)."""

    tier: str
    model: str
    hosts: tuple[str, ...]
    capabilities: frozenset[str]
    slots: int = 1
    thresholds: Thresholds | None = None  # per-model override; None = the global thresholds


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 2.0
    first_token_s: float = 30.0  # base allowance before the first token
    first_token_per_1k_prompt_tokens_s: float = 5.0  # prefill is silent: scale with prompt length
    idle_s: float = 30.0  # between two chunks
    total_s: float = 600.0


@dataclass(frozen=True)
class RetryBudget:
    max_attempts: int = 3  # per request, first try included
    ratio: float = 0.2  # retries may add at most this fraction of load ...
    min_per_s: float = 1.0  # ... plus this floor per second


@dataclass(frozen=True)
class Hedging:
    # Before its first token, a streamed request that is late against its own predicted TTFT at
    # `percentile` (its prediction times the endpoint's measured prediction error; or `delay_s`, when
    # set) is sent to the next-best endpoint too; the first first token wins and the other attempt is
    # cancelled. A token bucket caps the extra requests.
    enabled: bool = True  # where the console's live switch starts
    ratio: float = 0.05  # hedges may add at most this share of requests past the 2 it starts with (each request earns this) ...
    burst: int = 20  # ... and the bucket holds at most this many hedges
    delay_s: float = 0.0  # 0: hedge after the request's predicted TTFT at `percentile`; else after this fixed delay
    # Where "late" starts for normal requests: their predicted TTFT's percentile. High, so that the budget goes
    # to stragglers rather than to the normal tail (a hedge of a request that is merely slow seldom wins).
    percentile: float = 0.99


@dataclass(frozen=True)
class Admission:
    # Background requests (load, serve clients) waiting in the router for a slot; past this they
    # are shed at once with a 503, as Ollama's own queue does (OLLAMA_MAX_QUEUE, 512 by default).
    # A background request whose predicted wait for a slot (the queue ahead of it and the endpoints'
    # measured service times) exceeds its patience is shed at once too, with a Retry-After, instead of
    # waiting until its client times out. The operator's prompts are never shed.
    max_queued: int = 512
    patience_s: float = 10.0


@dataclass(frozen=True)
class Breaker:
    consecutive_failures: int = 5
    base_ejection_s: float = 30.0
    max_ejection_s: float = 300.0


@dataclass(frozen=True)
class Adaptive:
    explore_rate: float = 0.01
    half_life_s: float = 300.0  # decay of the feedback history
    min_weight: float = 0.5
    max_weight: float = 2.0
    # A person reads ~300 words (~400 tokens) a minute: a stream decoding faster than this keeps ahead of its reader,
    # so adaptive counts only the decode time beyond it when the caller reads a stream.
    reading_s_per_token: float = 0.15
    # A caller waiting for the whole answer is ranked by completion + this x TTFT: a later first token still costs
    # (waiting for a busy endpoint is the least certain part of a prediction, and holds the caller with nothing).
    # 2.0 measured best of 0 / 0.5 / 1 / 2 in overload, replicas and slowdown (docs/BENCHMARKS.md).
    first_token_weight: float = 2.0
    # The operator's preference for a route's order over time alone: the route's most preferred tier (not saturated) keeps
    # a request while the time its caller waits for there is at most this x the ranking's best's (on another tier).
    # 1.0: time alone decides (policies/tier_preference.py).
    tier_tolerance: float = 1.0


@dataclass(frozen=True)
class Affinity:
    """Load-aware session affinity (adaptive): a conversation's next turn goes back to the endpoint
    whose prompt cache holds its prefix, unless that costs more than `margin` over the best other."""

    margin: float = 0.5  # stay while the holder's predicted TTFT <= the best alternative's x (1 + margin)
    max_sessions: int = 10_000  # sessions remembered; the least recently used is forgotten first
    idle_ttl_s: float = 1800.0  # a session idle longer than this is forgotten (its cache is likely gone)


DEFAULT_EXAMPLES: Mapping[Task, tuple[str, ...]] = _frozen(
    {
        Task.SIMPLE: ("what is the capital of France", "hello, how are you", "translate good morning to Spanish"),
        Task.CODE: ("write a python function to reverse a list", "fix this bug in my javascript code", "explain this SQL query"),
        Task.COMPLEX_REASONING: (
            "prove that there are infinitely many primes",
            "compare the trade-offs of these two system designs step by step",
            "plan a migration strategy and justify each step",
        ),
    }
)


@dataclass(frozen=True)
class Classifier:
    semantic: bool = False  # embed the prompt with the embedder tier when the rules are unsure
    confidence_threshold: float = 0.6  # below this the rules count as unsure
    examples: Mapping[Task, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_EXAMPLES)


@dataclass(frozen=True)
class Journal:
    path: str | None = None  # None = $XDG_STATE_HOME/zeta-console/journal.sqlite3
    retention_rows: int = 100_000
    store_prompts: bool = False


@dataclass(frozen=True)
class UI:
    theme: str = "zeta-dark"
    refresh_hz: float = 5.0
    keymap: Mapping[str, str] = field(default_factory=lambda: _frozen({}))  # binding id -> keys


@dataclass(frozen=True)
class LoadGenerator:
    rate_per_s: float = 2.0  # demo traffic, Poisson arrivals


@dataclass(frozen=True)
class ConnectionLimits:
    """What a listener (the endpoint, the emulator) grants a client connection before any request runs."""

    max_connections: int = 512  # open client connections; at the cap a stalled or idle one makes room, else a 503
    header_timeout_s: float = 10.0  # a request line and its headers must arrive within this
    max_header_bytes: int = 64 * 1024  # a larger request head gets a 431 (Ollama, via Go, allows 1 MiB)


@dataclass(frozen=True)
class Serve(ConnectionLimits):
    listen: str = "127.0.0.1:11435"
    max_body_bytes: int = 10 * 1024 * 1024
    allowed_origins: tuple[str, ...] = ()  # web origins allowed beyond Ollama's local ones (OLLAMA_ORIGINS adds more)
    drain_grace_s: float = 10.0  # on SIGTERM/SIGINT, in-flight requests may finish within this; the rest are cut


def default_hosts() -> tuple[HostConfig, ...]:
    return (HostConfig(name="local", url=default_ollama_url()),)


DEFAULT_MODELS: tuple[ModelConfig, ...] = (
    ModelConfig("coder", "qwen2.5-coder:7b", ("local",), frozenset({"completion", "tools", "insert"})),
    ModelConfig("embedder", "qwen3-embedding:4b", ("local",), frozenset({"embedding"})),
    ModelConfig("reasoner", "qwen3:14b", ("local",), frozenset({"completion", "tools", "thinking"})),
)

DEFAULT_ROUTES: Mapping[Task, tuple[str, ...]] = _frozen(
    {
        Task.SIMPLE: ("coder", "reasoner"),
        Task.CODE: ("coder", "reasoner"),
        Task.COMPLEX_REASONING: ("reasoner", "coder"),
        Task.EMBEDDING: ("embedder",),
    }
)


BUILT_IN_SOURCE = "<built-in defaults>"  # Settings.source when no config file was read


@dataclass(frozen=True)
class Settings:
    hosts: tuple[HostConfig, ...] = field(default_factory=default_hosts)
    models: tuple[ModelConfig, ...] = DEFAULT_MODELS
    routes: Mapping[Task, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_ROUTES)
    thresholds: Thresholds = Thresholds()
    policy: PolicyName = DEFAULT_POLICY
    timeouts: Timeouts = Timeouts()
    retry: RetryBudget = RetryBudget()
    hedging: Hedging = Hedging()
    admission: Admission = Admission()
    breaker: Breaker = Breaker()
    adaptive: Adaptive = Adaptive()
    affinity: Affinity = Affinity()
    classifier: Classifier = Classifier()
    journal: Journal = Journal()
    ui: UI = UI()
    load_generator: LoadGenerator = LoadGenerator()
    serve: Serve = Serve()
    source: str = BUILT_IN_SOURCE  # the file these came from, for messages

    def model(self, tier: str) -> ModelConfig:
        for model in self.models:
            if model.tier == tier:
                return model
        raise KeyError(tier)

    def host(self, name: str) -> HostConfig:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def thresholds_for(self, tier: str) -> Thresholds:
        return self.model(tier).thresholds or self.thresholds

"""What an emulated fleet is made of: models, hosts and the fleet, with GPU-like defaults.

The defaults follow ollama-api.md §5.2 ("suggested emulator defaults", a ~24 GB GPU) and the
scheduler defaults of §3.1/§3.8.
"""

from __future__ import annotations

from dataclasses import dataclass

from zeta_console.ollama_api.names import canonical_name

GIB = 1024**3
ZERO_LATENCY_TPS = 1e12  # "infinitely" fast: every delay rounds to nothing


@dataclass(frozen=True)
class ModelProfile:
    name: str
    family: str
    parameter_size: str
    quantization: str
    disk_bytes: int
    resident_bytes: int
    context_length: int  # trained context (model_info "<arch>.context_length")
    embedding_length: int
    capabilities: tuple[str, ...]
    load_s: float
    prefill_tps: float
    decode_tps: float
    thinking_tokens: int = 0  # typical length of the reasoning phase; 0 = not a thinking model
    num_parallel: int | None = None  # None = the host's num_parallel; embedding models always 1
    block_count: int = 28

    @property
    def is_embedding(self) -> bool:
        return "embedding" in self.capabilities

    @property
    def can_think(self) -> bool:
        return "thinking" in self.capabilities


@dataclass(frozen=True)
class HostSpec:
    name: str
    port: int = 0  # 0 = an ephemeral port
    num_parallel: int = 1
    max_loaded: int = 3
    max_queue: int = 512
    memory_bytes: int = 24 * GIB
    keep_alive_s: float = 300.0  # negative = never unload
    models: tuple[ModelProfile, ...] = ()

    def slots_for(self, model: ModelProfile) -> int:
        if model.is_embedding:
            return 1
        return max(1, model.num_parallel if model.num_parallel is not None else self.num_parallel)

    def runner_context_length(self, model: ModelProfile) -> int:
        """Ollama's automatic context by memory tier (ollama-api.md §3.1), capped at the trained one."""
        if self.memory_bytes >= 47 * GIB:
            tier = 262144
        elif self.memory_bytes >= 23 * GIB:
            tier = 32768
        else:
            tier = 4096
        return min(tier, model.context_length)

    def model(self, name: str) -> ModelProfile | None:
        """The installed model `name` refers to: case-insensitive, tag defaulting to `latest`."""
        wanted = canonical_name(name)
        return next((model for model in self.models if canonical_name(model.name) == wanted), None)


@dataclass(frozen=True)
class FleetSpec:
    hosts: tuple[HostSpec, ...]
    time_scale: float = 1.0  # every simulated delay is divided by this
    seed: int = 0


CODER = ModelProfile(
    name="qwen2.5-coder:7b",
    family="qwen2",
    parameter_size="7.6B",
    quantization="Q4_K_M",
    disk_bytes=4_683_087_332,
    resident_bytes=5_600_000_000,
    context_length=32768,
    embedding_length=3584,
    capabilities=("completion", "tools", "insert"),
    load_s=3.0,
    prefill_tps=1500.0,
    decode_tps=70.0,
    block_count=28,
)
EMBEDDER = ModelProfile(
    name="qwen3-embedding:4b",
    family="qwen3",
    parameter_size="4.0B",
    quantization="Q4_K_M",
    disk_bytes=2_497_279_616,
    resident_bytes=3_200_000_000,
    context_length=40960,
    embedding_length=2560,
    capabilities=("embedding",),
    load_s=2.0,
    prefill_tps=3000.0,
    decode_tps=3000.0,  # unused: embedders only prefill
    num_parallel=1,
    block_count=36,
)
REASONER = ModelProfile(
    name="qwen3:14b",
    family="qwen3",
    parameter_size="14.8B",
    quantization="Q4_K_M",
    disk_bytes=9_276_198_565,
    resident_bytes=11_800_000_000,
    context_length=40960,
    embedding_length=5120,
    capabilities=("completion", "tools", "thinking"),
    load_s=5.0,
    prefill_tps=800.0,
    decode_tps=40.0,
    thinking_tokens=300,
    block_count=40,
)


def default_fleet_spec(time_scale: float = 1.0, seed: int = 0) -> FleetSpec:
    """One host, "local", serving the three tiers on an ephemeral port."""
    return FleetSpec(hosts=(HostSpec(name="local", models=(CODER, EMBEDDER, REASONER)),), time_scale=time_scale, seed=seed)


def zero_latency_profile(name: str, capabilities: tuple[str, ...] = ("completion",)) -> ModelProfile:
    """A model with no load time and unbounded token rates, for measuring overheads."""
    embedding = "embedding" in capabilities
    return ModelProfile(
        name=name,
        family="zero",
        parameter_size="0B",
        quantization="F16",
        disk_bytes=1_000_000,
        resident_bytes=1_000_000,
        context_length=32768,
        embedding_length=256 if embedding else 512,
        capabilities=tuple(capabilities),
        load_s=0.0,
        prefill_tps=ZERO_LATENCY_TPS,
        decode_tps=ZERO_LATENCY_TPS,
        block_count=1,
    )

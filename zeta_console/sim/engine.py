"""One emulated host's scheduler: residency, the pending-load queue, slots, eviction, expiry.

Mirrors Ollama's scheduler (ollama-api.md §3.2-3.5, §3.8):
- a request for a resident model takes the fast path: no queue, no 503 possible;
- any other request enters the pending-load queue (capacity `max_queue`, else 503 at once);
  one loader takes the queue in arrival order and loads one model at a time;
- before a load, models are evicted while the host is at `max_loaded` or the new model does
  not fit in 80 % of the free memory: the idle model with the shortest keep-alive goes first
  (then by name); if none is idle, the shortest keep-alive one is drained and then unloaded;
- each model has `slots` (FIFO, unbounded wait); a disconnect frees what the request held;
- each slot keeps the prompt it last processed (its KV cache, `SlotCache`): a request takes the
  free slot whose cache shares the longest prefix with its prompt, else the least recently used
  one (Ollama's runner, `findBestCacheSlot`), and pays prefill only for the rest; unloading a
  model clears its caches;
- when the last request of a model finishes, it expires after its keep-alive (last writer
  wins; 0 = unload at once, negative = never).
Every wait is on the wall clock: simulated durations are divided by time_scale first.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from zeta_console.ollama_api.errors import ApiError
from zeta_console.sim.content import PromptBlock
from zeta_console.sim.faults import SERVER_BUSY
from zeta_console.sim.latency import RequestPace
from zeta_console.sim.profiles import HostSpec, ModelProfile
from zeta_console.sim.wire import FOREVER_S

FREE_MEMORY_SHARE = 0.8  # a further model must fit in this share of the free memory


@dataclass(eq=False)
class Work:
    """One request's demand, for the scheduler's own prediction of waiting times."""

    pace: RequestPace
    prompt_tokens: int  # still to evaluate: the whole prompt until a slot's cache has served its prefix
    output_tokens: int
    stall_s: float = 0.0  # wall seconds
    blocks: tuple[PromptBlock, ...] = ()  # the prompt, for the slots' prompt cache
    tokens_left: int = field(init=False)

    def __post_init__(self) -> None:
        self.tokens_left = self.output_tokens

    def remaining_s(self, active_streams: int) -> float:
        return self.tokens_left * self.pace.token_s(active_streams)

    def service_s(self, active_streams: int) -> float:
        return self.stall_s + self.pace.prefill_s(self.prompt_tokens) + self.remaining_s(active_streams)


@dataclass(eq=False)
class SlotCache:
    """What one slot's KV cache holds: the prompt blocks it last processed (and its answer)."""

    blocks: tuple[PromptBlock, ...] = ()
    in_use: bool = False
    used_at: float = 0.0  # monotonic, when it was last released (least recently used goes first)

    @property
    def tokens(self) -> int:
        return sum(block.tokens for block in self.blocks)

    @property
    def opening(self) -> str:
        """The start of the first two blocks (a system prompt and a first question): whose conversation this is."""
        return " | ".join(block.head for block in self.blocks[:2])

    def shared_blocks(self, blocks: tuple[PromptBlock, ...]) -> int:
        """How many leading blocks of `blocks` this cache holds."""
        shared = 0
        for mine, theirs in zip(self.blocks, blocks, strict=False):
            if mine != theirs:
                break
            shared += 1
        return shared

    def reuse(self, blocks: tuple[PromptBlock, ...], prompt_tokens: int) -> int:
        """Keep the prefix `blocks` shares with the cache (the rest is overwritten) and return its
        tokens, at most `prompt_tokens - 1`: the last prompt token is always evaluated, for its logits."""
        self.blocks = self.blocks[: self.shared_blocks(blocks)]
        return max(0, min(self.tokens, prompt_tokens - 1))

    def hold(self, blocks: tuple[PromptBlock, ...]) -> None:
        self.blocks = blocks


@dataclass(eq=False)
class ModelRuntime:
    """The live state of one installed model on the host."""

    profile: ModelProfile
    slots: int
    keep_alive_s: float
    resident: bool = False
    loading: bool = False
    draining: bool = False  # chosen for eviction: new requests must wait for a reload
    busy: int = 0
    references: int = 0  # requests holding the runner: waiting for a slot or in one
    expires_at: float | None = None  # wall-clock epoch seconds
    loaded_at: float = 0.0
    load_finishes_at: float = 0.0  # monotonic
    waiters: deque[tuple[asyncio.Future[None], Work]] = field(default_factory=deque)
    running: set[Work] = field(default_factory=set)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    expiry: asyncio.TimerHandle | None = None
    caches: list[SlotCache] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.caches = [SlotCache() for _ in range(self.slots)]

    @property
    def usable(self) -> bool:
        return self.resident and not self.draining

    def take_cache(self, blocks: tuple[PromptBlock, ...]) -> SlotCache:
        """The free slot whose cache shares the longest prefix with `blocks`, else the least recently used."""
        free = [cache for cache in self.caches if not cache.in_use]
        cache = max(free, key=lambda cache: (cache.shared_blocks(blocks), -cache.used_at))
        cache.in_use = True
        return cache


@dataclass(eq=False)
class PendingLoad:
    runtime: ModelRuntime
    work: Work
    granted: asyncio.Future[None]


class HostEngine:
    def __init__(self, spec: HostSpec, time_scale: float) -> None:
        self.spec = spec
        self.time_scale = time_scale
        self.models = {profile.name: ModelRuntime(profile, spec.slots_for(profile), spec.keep_alive_s) for profile in spec.models}
        for runtime in self.models.values():
            runtime.idle.set()
        self._pending: deque[PendingLoad] = deque()
        self._pending_changed = asyncio.Event()
        self._loader: asyncio.Task[None] | None = None

    def close(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
        for runtime in self.models.values():
            self._cancel_expiry(runtime)

    # -- holding a model ------------------------------------------------------------------

    @asynccontextmanager
    async def runner(self, profile: ModelProfile, keep_alive_s: float | None, work: Work) -> AsyncIterator[ModelRuntime]:
        """Hold `profile`'s runner, loading it first if needed (may raise the 503 of a full queue)."""
        runtime = self.models[profile.name]
        if runtime.usable:
            self._add_reference(runtime)
        else:
            await self._wait_for_load(runtime, work)
        if keep_alive_s is not None:
            runtime.keep_alive_s = keep_alive_s
        try:
            yield runtime
        finally:
            self._drop_reference(runtime)

    async def _wait_for_load(self, runtime: ModelRuntime, work: Work) -> None:
        if len(self._pending) >= self.spec.max_queue:
            raise ApiError(503, SERVER_BUSY)
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(PendingLoad(runtime, work, granted))
        self._pending_changed.set()
        self._ensure_loader()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._drop_reference(runtime)  # the reference was handed over as we were cancelled
            raise

    def _add_reference(self, runtime: ModelRuntime) -> None:
        runtime.references += 1
        runtime.idle.clear()
        self._cancel_expiry(runtime)

    def _drop_reference(self, runtime: ModelRuntime) -> None:
        runtime.references -= 1
        if runtime.references:
            return
        runtime.idle.set()
        if runtime.resident and not runtime.draining:
            self._start_expiry(runtime)

    # -- slots ------------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, runtime: ModelRuntime, work: Work) -> AsyncIterator[SlotCache]:
        """One of the model's slots, first come first served, with its prompt cache."""
        if runtime.busy < runtime.slots and not runtime.waiters:
            runtime.busy += 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (turn, work)
            runtime.waiters.append(entry)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.cancelled():
                    if entry in runtime.waiters:  # a release may have dropped it already
                        runtime.waiters.remove(entry)
                else:
                    self._release_slot(runtime)  # handed to us as we were cancelled
                raise
        runtime.running.add(work)
        cache = runtime.take_cache(work.blocks)
        try:
            yield cache
        finally:
            cache.in_use = False
            cache.used_at = time.monotonic()
            runtime.running.discard(work)
            self._release_slot(runtime)

    def _release_slot(self, runtime: ModelRuntime) -> None:
        while runtime.waiters:
            turn, _ = runtime.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the next in line
                return
        runtime.busy -= 1

    # -- loading and eviction ---------------------------------------------------------------

    def _ensure_loader(self) -> None:
        if self._loader is None or self._loader.done():
            self._loader = asyncio.get_running_loop().create_task(self._load_pending(), name=f"sim-loader-{self.spec.name}")

    async def _load_pending(self) -> None:
        while True:
            while not self._pending:
                self._pending_changed.clear()
                await self._pending_changed.wait()
            item = self._pending[0]
            if not item.granted.done() and not item.runtime.usable:
                await self._make_room(item.runtime)
                await self._load(item)
            self._pending.popleft()
            if not item.granted.done() and item.runtime.usable:
                self._add_reference(item.runtime)
                item.granted.set_result(None)
            elif item.runtime.usable and not item.runtime.references:
                self._start_expiry(item.runtime)  # loaded for a client who left meanwhile

    async def _load(self, item: PendingLoad) -> None:
        """Load the model unless the requester leaves first (Ollama aborts that load)."""
        runtime = item.runtime
        duration = item.work.pace.load_s()
        runtime.loading = True
        runtime.load_finishes_at = time.monotonic() + duration
        runtime.expires_at = time.time() + self._keep_alive_wall_s(runtime)
        loading = asyncio.ensure_future(asyncio.sleep(duration))
        try:
            await asyncio.wait({loading, item.granted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loading.cancel()
            runtime.loading = False
        if item.granted.done():
            runtime.expires_at = None
            return
        runtime.resident = True
        runtime.loaded_at = time.time()

    async def _make_room(self, incoming: ModelRuntime) -> None:
        while True:
            residents = [runtime for runtime in self.models.values() if runtime.resident]
            if not residents:
                return  # the first model always loads (partly on CPU if it must)
            free = self.spec.memory_bytes - sum(runtime.profile.resident_bytes for runtime in residents)
            fits = incoming.profile.resident_bytes <= FREE_MEMORY_SHARE * free
            if len(residents) < self.spec.max_loaded and fits:
                return
            victim = eviction_victim(residents)
            victim.draining = True
            self._cancel_expiry(victim)
            await victim.idle.wait()
            self.unload_now(victim)

    def unload_now(self, runtime: ModelRuntime) -> None:
        self._cancel_expiry(runtime)
        runtime.resident = runtime.draining = False
        runtime.expires_at = None
        for cache in runtime.caches:
            cache.hold(())

    # -- keep-alive -------------------------------------------------------------------------

    def _keep_alive_wall_s(self, runtime: ModelRuntime) -> float:
        return FOREVER_S if runtime.keep_alive_s < 0 else runtime.keep_alive_s / self.time_scale

    def _start_expiry(self, runtime: ModelRuntime) -> None:
        self._cancel_expiry(runtime)
        delay = self._keep_alive_wall_s(runtime)
        runtime.expires_at = time.time() + delay
        if delay <= 0:
            self.unload_now(runtime)
        elif runtime.keep_alive_s >= 0:
            runtime.expiry = asyncio.get_running_loop().call_later(delay, self._expire, runtime)

    def _cancel_expiry(self, runtime: ModelRuntime) -> None:
        if runtime.expiry is not None:
            runtime.expiry.cancel()
            runtime.expiry = None

    def _expire(self, runtime: ModelRuntime) -> None:
        runtime.expiry = None
        if runtime.references == 0 and runtime.resident:
            self.unload_now(runtime)

    def unload(self, model: str) -> ModelRuntime:
        """Ollama's explicit unload (keep_alive 0): at once if idle, else when its requests end."""
        runtime = self.models[model]
        if runtime.resident:
            runtime.keep_alive_s = 0.0
            if runtime.references == 0:
                self.unload_now(runtime)
        return runtime

    # -- the truth, for the oracle -----------------------------------------------------------

    def pending_loads(self, runtime: ModelRuntime) -> int:
        return sum(1 for item in self._pending if item.runtime is runtime and not item.granted.done())

    def predict_ttft_s(self, model: str, pace: RequestPace, prompt_tokens: int) -> float:
        """Wall seconds until a new request's first token, from the true state (mean pace)."""
        runtime = self.models[model]
        load_wait = self._predicted_load_wait_s(runtime, pace)
        active = min(runtime.slots, runtime.busy + 1)
        slot_wait = self._predicted_slot_wait_s(runtime, max(0.0, load_wait))
        return load_wait + slot_wait + pace.prefill_s(prompt_tokens) + pace.token_s(active)

    def _predicted_load_wait_s(self, runtime: ModelRuntime, pace: RequestPace) -> float:
        if runtime.usable:
            return 0.0
        now = time.monotonic()
        wait = 0.0
        queued: set[str] = set()
        for item in self._pending:
            if item.granted.done() or item.runtime.usable or item.runtime.profile.name in queued:
                continue
            queued.add(item.runtime.profile.name)
            if item.runtime.loading:
                wait += max(0.0, item.runtime.load_finishes_at - now)
            else:
                wait += item.work.pace.load_s()
            if item.runtime is runtime:
                return wait
        return wait + pace.load_s()

    def _predicted_slot_wait_s(self, runtime: ModelRuntime, after_s: float) -> float:
        """Hand the slots to everyone ahead in FIFO order, each for its predicted service time."""
        full = runtime.slots
        free_at = sorted([work.remaining_s(full) for work in runtime.running] + [0.0] * (runtime.slots - len(runtime.running)))
        ahead = [work for _, work in runtime.waiters] + [
            item.work for item in self._pending if item.runtime is runtime and not item.granted.done()
        ]
        for work in ahead:
            start = free_at.pop(0)
            free_at.append(start + work.service_s(full))
            free_at.sort()
        return max(0.0, free_at[0] - after_s) if free_at else 0.0


def eviction_victim(residents: list[ModelRuntime]) -> ModelRuntime:
    """Ollama's choice (not LRU): shortest keep-alive first, then by name; idle ones preferred."""
    ordered = sorted(residents, key=lambda runtime: (math.inf if runtime.keep_alive_s < 0 else runtime.keep_alive_s, runtime.profile.name))
    return next((runtime for runtime in ordered if runtime.references == 0), ordered[0])


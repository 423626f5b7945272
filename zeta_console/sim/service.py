"""One emulated Ollama host without its HTTP layer: the replies of every endpoint, and control."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from zeta_console.ollama_api.errors import ApiError
from zeta_console.ollama_api.sizes import parameter_count
from zeta_console.sim.content import plan_completion
from zeta_console.sim.engine import HostEngine
from zeta_console.sim.faults import SERVER_BUSY, Fault, FaultBook
from zeta_console.sim.generation import Finished, MidStreamFailure, Piece, load_only, run_completion, run_embedding
from zeta_console.sim.latency import Jitter, RequestPace
from zeta_console.sim.parsing import CompletionRequest, EmbedRequest
from zeta_console.sim.profiles import HostSpec, ModelProfile
from zeta_console.sim.wire import GENERATE, final_reply, local_timestamp, ndjson_line, partial_reply

OLLAMA_VERSION = "0.32.15"
_DAY_S = 86400.0


@dataclass(frozen=True)
class JsonReply:
    payload: dict[str, Any]


@dataclass(frozen=True)
class StreamReply:
    """NDJSON (or SSE on /v1): the first line is ready before any header is sent (so early errors keep their status)."""

    first_line: bytes
    rest: AsyncIterator[bytes]
    content_type: bytes = b"application/x-ndjson"


Reply = JsonReply | StreamReply


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(profile: ModelProfile) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": profile.family,
        "families": [profile.family],
        "parameter_size": profile.parameter_size,
        "quantization_level": profile.quantization,
    }


def _context_tokens(count: int) -> list[int]:
    return [(index * 7919) % 151643 for index in range(count)]


STRAGGLED_KEPT = 4096  # a bench run makes a few dozen stragglers


class HostService:
    def __init__(self, spec: HostSpec, time_scale: float, seed: int) -> None:
        self.spec = spec
        self.time_scale = time_scale
        self.seed = seed
        self.engine = HostEngine(spec, time_scale)
        self.faults = FaultBook(seed)
        self._jitter = Jitter(seed)
        self._installed_at = time.time()
        self._straggled: dict[str, None] = {}  # the prompts whose request this host made a straggler, oldest first

    # -- control ------------------------------------------------------------------------------

    def profile(self, model: str) -> ModelProfile:
        profile = self.spec.model(model)
        if profile is None:
            raise KeyError(f"host {self.spec.name!r} has no model {model!r}")
        return profile

    def set_fault(self, model: str, fault: Fault) -> None:
        self.faults.set(self.profile(model).name, fault)

    def clear_faults(self, model: str | None = None) -> None:
        self.faults.clear(None if model is None else self.profile(model).name)

    def predict_ttft_s(self, model: str, prompt_tokens: int) -> float:
        profile = self.profile(model)
        fault = self.faults.get(profile.name) or Fault()
        pace = RequestPace(profile, self.time_scale, fault.slow_factor)
        return self.engine.predict_ttft_s(profile.name, pace, prompt_tokens) + pace.simulated_s(fault.stall_s)

    def chat_answer(self, model: str, contents: list[str], *, num_predict: int | None = None) -> str:
        """The whole answer text (thinking aside) this host streams for a chat of these message
        contents (`think` not set): what a caller must get, once and unspliced."""
        profile = self.profile(model)
        completion = plan_completion(
            profile.name, "\n".join(contents), seed=self.seed, thinking_tokens=profile.thinking_tokens if profile.can_think else 0,
            num_predict=num_predict,
        )
        return "".join(completion.content)

    def straggled(self, contents: list[str]) -> bool:
        """Whether a chat of these message contents was made a straggler here (`straggle_rate`): the bench
        tells the tail that stragglers make from the one that queueing makes."""
        return "\n".join(contents) in self._straggled

    def state(self, up: bool) -> dict[str, Any]:
        models = {}
        for name, runtime in self.engine.models.items():
            fault = self.faults.get(name) or Fault()
            models[name] = {
                "resident": runtime.resident,
                "loading": runtime.loading,
                "slots": runtime.slots,
                "busy_slots": runtime.busy,
                "waiting": len(runtime.waiters),
                "pending_load": self.engine.pending_loads(runtime),
                "slow_factor": fault.slow_factor,
                "error_rate": fault.error_rate,
                "expires_at": None if runtime.expires_at is None else local_timestamp(runtime.expires_at),
                "predicted_ttft_s": self.predict_ttft_s(name, 1),
                "slot_caches": [
                    {"cached_tokens": cache.tokens, "blocks": len(cache.blocks), "opening": cache.opening, "in_use": cache.in_use}
                    for cache in runtime.caches
                ],
            }
        return {"host": self.spec.name, "up": up, "models": models}

    # -- read-only endpoints ------------------------------------------------------------------

    def tags(self) -> dict[str, Any]:
        entries = []
        for index, profile in enumerate(self.spec.models):
            details = {**_details(profile), "context_length": profile.context_length, "embedding_length": profile.embedding_length}
            entries.append(
                {
                    "name": profile.name,
                    "model": profile.name,
                    "modified_at": local_timestamp(self._installed_at - (index + 1) * _DAY_S),
                    "size": profile.disk_bytes,
                    "digest": _digest(profile.name),
                    "details": details,
                    "capabilities": list(profile.capabilities),
                }
            )
        return {"models": entries}

    def ps(self) -> dict[str, Any]:
        loaded = [runtime for runtime in self.engine.models.values() if runtime.resident or runtime.loading]
        loaded.sort(key=lambda runtime: runtime.expires_at or 0.0, reverse=True)
        return {
            "models": [
                {
                    "name": runtime.profile.name,
                    "model": runtime.profile.name,
                    "size": runtime.profile.resident_bytes,
                    "digest": _digest(runtime.profile.name),
                    "details": _details(runtime.profile),
                    "expires_at": local_timestamp(runtime.expires_at or time.time()),
                    "size_vram": min(runtime.profile.resident_bytes, self.spec.memory_bytes),
                    "context_length": self.spec.runner_context_length(runtime.profile),
                }
                for runtime in loaded
            ]
        }

    def show(self, profile: ModelProfile) -> dict[str, Any]:
        arch = profile.family
        return {
            "license": "Simulated model: no weights, no license.",
            "modelfile": f"# Modelfile of a model simulated by zeta-console sim\nFROM {profile.name}\n",
            "parameters": "temperature 0.7\ntop_k 20\ntop_p 0.8",
            "template": "{{ .Prompt }}",
            "details": _details(profile),
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": parameter_count(profile.parameter_size) or 0,
                "general.file_type": 15,
                f"{arch}.context_length": profile.context_length,
                f"{arch}.embedding_length": profile.embedding_length,
                f"{arch}.block_count": profile.block_count,
                "tokenizer.ggml.tokens": None,
            },
            "capabilities": list(profile.capabilities),
            "modified_at": local_timestamp(self._installed_at - _DAY_S),
        }

    # -- inference ------------------------------------------------------------------------------

    def _admit(self, profile: ModelProfile) -> RequestPace:
        if self.faults.take_busy(profile.name):
            raise ApiError(503, SERVER_BUSY)
        fault = self.faults.get(profile.name)
        return self._jitter.pace(profile, self.time_scale, fault.slow_factor if fault else 1.0)

    async def complete(self, kind: str, request: CompletionRequest) -> Reply:
        pace = self._admit(request.profile)
        if request.load_only:
            reason = await load_only(self.engine, request, pace)
            return JsonReply(final_reply(kind, request.asked_model, time.time(), reason))
        completion = plan_completion(
            request.profile.name,
            request.prompt,
            seed=self.seed,
            thinking_tokens=request.profile.thinking_tokens if request.think else 0,
            num_predict=request.num_predict,
            stop=request.stop,
        )
        faults = self.faults.for_request(request.profile.name)
        if faults.prefill_factor > 1.0:
            self._straggled[request.prompt] = None
            if len(self._straggled) > STRAGGLED_KEPT:  # a long-running emulator under a straggle fault
                del self._straggled[next(iter(self._straggled))]
        items = run_completion(self.engine, request, completion, pace, faults)
        if not request.stream:
            return JsonReply(await self._aggregate(kind, request, items))
        lines = self._lines(kind, request, items)
        try:
            first = await anext(lines)
        except BaseException:
            await lines.aclose()
            raise
        return StreamReply(first, lines)

    def _context(self, kind: str, request: CompletionRequest, finished: Finished) -> list[int] | None:
        if kind != GENERATE or request.raw:
            return None
        return _context_tokens(request.prompt_tokens + finished.metrics.eval_count)

    async def _lines(self, kind: str, request: CompletionRequest, items: AsyncIterator[Piece | Finished]) -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(items):  # type: ignore[type-var]  # an async generator, typed as its iterator
            async for item in items:
                if isinstance(item, Piece):
                    yield ndjson_line(partial_reply(kind, request.asked_model, time.time(), item.content, item.thinking))
                else:
                    context = self._context(kind, request, item)
                    yield ndjson_line(final_reply(kind, request.asked_model, time.time(), item.done_reason, item.metrics, context=context))

    async def _aggregate(self, kind: str, request: CompletionRequest, items: AsyncIterator[Piece | Finished]) -> dict[str, Any]:
        content: list[str] = []
        thinking: list[str] = []
        async with contextlib.aclosing(items):  # type: ignore[type-var]  # an async generator, typed as its iterator
            try:
                async for item in items:
                    if isinstance(item, Piece):
                        content.append(item.content)
                        thinking.append(item.thinking)
                    else:
                        context = self._context(kind, request, item)
                        return final_reply(
                            kind,
                            request.asked_model,
                            time.time(),
                            item.done_reason,
                            item.metrics,
                            "".join(content),
                            "".join(thinking),
                            context,
                        )
            except MidStreamFailure as failure:
                raise ApiError(500, str(failure)) from None
        raise AssertionError("a completion always ends with Finished")

    async def embed(self, request: EmbedRequest) -> dict[str, Any]:
        pace = self._admit(request.profile)
        if not request.inputs:
            await load_only(self.engine, request, pace)
            return {"model": request.asked_model, "embeddings": []}
        result = await run_embedding(self.engine, request, pace, self.faults.for_request(request.profile.name), normalise=True)
        return {"model": request.asked_model, "embeddings": result.vectors, **result.metrics.fields()}

    async def legacy_embedding(self, request: EmbedRequest) -> dict[str, Any]:
        """/api/embeddings: one vector, not normalised, no metrics."""
        pace = self._admit(request.profile)
        if not request.inputs:
            await load_only(self.engine, request, pace)
            return {"embedding": []}
        result = await run_embedding(self.engine, request, pace, self.faults.for_request(request.profile.name), normalise=False)
        return {"embedding": result.vectors[0]}

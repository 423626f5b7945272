"""LiteLLM's Router as a contender: same emulator, same trace, same load generator.

Configured the way a LiteLLM user would mirror Zeta's route table: one model group per tier
(`ollama_chat/<model>` deployments, one per host, `api_base` the emulator's URL; for real
llama.cpp servers, `openai/<model>` with `api_base` the server's /v1), the
`latency-based-routing` or `least-busy` strategy choosing among a tier's replicas, and
`fallbacks` from each task's preferred tier to the next ones in its route. A request that has
not produced its headers within Zeta's own first-token allowance times out and falls back, so
both routers get the same patience. `num_retries` is 0: LiteLLM's retry backoff sleeps real
seconds (0.5-1.2 s measured), which a time-scaled emulator would inflate into minutes of
scenario time; its fallbacks, which do not sleep, still replace a failed attempt.

LiteLLM is imported only here, and only when a LiteLLM contender runs (the `bench` extra).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from zeta_console.backends.openai_usage import count
from zeta_console.benchmark.results import Fate
from zeta_console.benchmark.runner import Message, Served
from zeta_console.benchmark.trace import TraceRequest
from zeta_console.errors import UserError
from zeta_console.router.requests import CHARS_PER_TOKEN
from zeta_console.router.run import first_token_allowance_s
from zeta_console.settings import HostConfig, ModelConfig, Settings, Task

STRATEGIES = {"litellm:latency": "latency-based-routing", "litellm:least_busy": "least-busy"}


def _import_litellm() -> Any:
    # Offline: use the bundled model cost map instead of fetching it at import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    try:
        import litellm
    except ImportError as error:
        raise UserError("LiteLLM contenders need the bench extra: pip install '.[bench]'", exit_code=2) from error
    litellm.suppress_debug_info = True
    return litellm


class LiteLLMContender:
    def __init__(self, name: str, settings: Settings) -> None:
        """`settings` as the Zeta contenders get them (scaled), hosts pointing at the servers."""
        litellm = _import_litellm()
        self.name = name
        self._routes = settings.routes
        model_list = [
            {"model_name": model.tier, "litellm_params": _deployment(model, settings.host(host)),
             "model_info": {"id": f"{model.tier}@{host}"}}
            for model in settings.models
            for host in model.hosts
        ]
        fallbacks = [
            {route[0]: list(route[1:])} for task, route in settings.routes.items() if len(route) > 1 and task is not Task.EMBEDDING
        ]
        self._timeouts = settings.timeouts
        # OpenAI-compatible servers report usage at a stream's end when asked (llama.cpp: with the cached prompt tokens);
        # LiteLLM's Ollama provider takes no stream_options.
        self._usage = {"stream_options": {"include_usage": True}} if all(host.api == "openai" for host in settings.hosts) else {}
        self._router = litellm.Router(
            model_list=model_list,
            routing_strategy=STRATEGIES[name],
            fallbacks=_merge_fallbacks(fallbacks),
            num_retries=0,
            timeout=settings.timeouts.total_s,
            cooldown_time=settings.breaker.base_ejection_s,
            allowed_fails=settings.breaker.consecutive_failures,
        )

    async def serve(self, request: TraceRequest, messages: Sequence[Message]) -> Served:
        tier = self._routes[request.task][0]
        started = time.perf_counter()
        first_token_s: float | None = None
        reply: list[str] = []
        usage: Any = None
        try:
            if request.task is Task.EMBEDDING:
                response = await self._router.aembedding(model=tier, input=[messages[-1]["content"]])
                first_token_s = time.perf_counter() - started
            else:
                context_tokens = sum(len(message["content"]) for message in messages) // CHARS_PER_TOKEN
                response = await self._router.acompletion(
                    model=tier,
                    messages=list(messages),
                    stream=True,
                    max_tokens=request.output_tokens,
                    stream_timeout=first_token_allowance_s(self._timeouts, context_tokens),
                    **self._usage,
                )
                async for chunk in response:
                    if first_token_s is None and _has_content(chunk):
                        first_token_s = time.perf_counter() - started
                    reply.append(_content(chunk))
                    usage = getattr(chunk, "usage", None) or usage
        except Exception as error:  # noqa: BLE001 - LiteLLM raises many exception types of its own; all are a failed request here
            return Served(
                Fate.FAILED,
                ttft_s=first_token_s,
                total_s=time.perf_counter() - started,
                failed_after_first_token=first_token_s is not None,
                error=f"{type(error).__name__}: {str(error)[:200]}",
            )
        endpoint = _deployment_id(response)
        served_tier = endpoint.split("@", 1)[0] if endpoint else None
        return Served(
            Fate.OK,
            endpoint=endpoint,
            ttft_s=first_token_s,
            total_s=time.perf_counter() - started,
            # LiteLLM does not report its retries; a different tier means at least one fallback.
            fallbacks=int(served_tier is not None and served_tier != tier),
            reply="".join(reply),
            prompt_tokens=count(getattr(usage, "prompt_tokens", None)),
            cached_prompt_tokens=count(getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)),
        )


def _deployment(model: ModelConfig, host: HostConfig) -> dict[str, str]:
    """LiteLLM's parameters for `model` on `host`: its OpenAI-compatible provider for an `api: openai`
    host (the server's /v1), else Ollama's (`ollama_chat`, which has no embeddings; `ollama` has)."""
    if host.api == "openai":
        return {"model": f"openai/{model.model}", "api_base": f"{host.url}/v1", "api_key": "no-key"}
    provider = "ollama" if "embedding" in model.capabilities else "ollama_chat"
    return {"model": f"{provider}/{model.model}", "api_base": host.url}


def _merge_fallbacks(entries: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    merged: dict[str, list[str]] = {}
    for entry in entries:
        for tier, targets in entry.items():
            merged.setdefault(tier, [])
            merged[tier].extend(target for target in targets if target not in merged[tier])
    return [{tier: targets} for tier, targets in merged.items()]


def _has_content(chunk: Any) -> bool:
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return False
    delta = choices[0].delta
    return bool(getattr(delta, "content", None) or getattr(delta, "reasoning_content", None))


def _content(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None) or []
    return str(getattr(choices[0].delta, "content", None) or "") if choices else ""


def _deployment_id(response: Any) -> str | None:
    hidden = getattr(response, "_hidden_params", None) or {}
    model_id = hidden.get("model_id")
    return str(model_id) if model_id else None

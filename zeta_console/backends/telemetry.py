"""A model server's own load gauges (backends-api.md §4-§8), read over plain HTTP into `QueueSignals`.

- llama.cpp: `/metrics` (`llamacpp:requests_processing`, `llamacpp:requests_deferred`; needs
  `--metrics`), else the busy slots of `/slots`; the slot count from `/props` (`total_slots`, read
  once), else the length of `/slots`. It has no KV-cache gauge.
- vLLM: `/metrics` (`vllm:num_requests_running`, `vllm:num_requests_waiting`,
  `vllm:kv_cache_usage_perc`, or the old `vllm:gpu_cache_usage_perc`), summed over engines and models.
- SGLang: `/metrics` (`sglang:num_running_reqs`, `sglang:num_queue_reqs`, `sglang:token_usage`;
  needs `--enable-metrics`).

`auto` finds the kind once (`/v1/models`' `owned_by`, else the metric prefixes `/metrics` has)
and remembers it; `none` reads nothing. A failed or malformed read leaves the figures it could
not read None: unknown, never idle. These endpoints are not part of the OpenAI API, so they are
read with a small httpx client of their own (one per event loop), not the `openai` client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from zeta_console.backends.clients import PerLoop
from zeta_console.backends.types import QueueSignals
from zeta_console.settings import Telemetry

LABELS: Mapping[str, str] = {"llamacpp": "llama.cpp", "vllm": "vLLM", "sglang": "SGLang"}  # as people know them
READ_TIMEOUT_S = 2.0
_PREFIX = re.compile(r"^(?:# (?:HELP|TYPE) )?(llamacpp|vllm|sglang):", re.MULTILINE)


@dataclass(frozen=True)
class Gauges:
    """The sample names of one kind's gauges; for the KV cache the first name present wins."""

    running: str
    waiting: str
    kv_cache: tuple[str, ...] = ()


GAUGES = {
    "llamacpp": Gauges("llamacpp:requests_processing", "llamacpp:requests_deferred"),
    "vllm": Gauges("vllm:num_requests_running", "vllm:num_requests_waiting", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
    "sglang": Gauges("sglang:num_running_reqs", "sglang:num_queue_reqs", ("sglang:token_usage",)),
}


def samples(text: str) -> dict[str, list[float]]:
    """Prometheus text -> every sample's values by sample name (one per label set), NaN left out.

    Counters are looked up by their sample names (the parser appends `_total`, backends-api.md §7).
    A malformed line stops the parse: what came before it is kept, what came after is unknown."""
    found: dict[str, list[float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                value = float(sample.value)
                if not math.isnan(value):
                    found.setdefault(sample.name, []).append(value)
    except ValueError:  # raised mid-iteration by a malformed line
        pass
    return found


def metric_signals(kind: str, text: str) -> QueueSignals:
    """One kind's /metrics text as signals: requests summed over label sets (engines, models), the
    fullest KV cache of them. A gauge absent from the text stays None."""
    gauges = GAUGES[kind]
    found = samples(text)
    running = found.get(gauges.running)
    waiting = found.get(gauges.waiting)
    kv = next((found[name] for name in gauges.kv_cache if name in found), None)
    return QueueSignals(
        server=LABELS[kind],
        running=round(sum(running)) if running else None,
        waiting=round(sum(waiting)) if waiting else None,
        kv_cache_usage=max(kv) if kv else None,
    )


def slot_signals(slots: Any) -> QueueSignals:
    """llama.cpp's /slots: the busy ones of all of them (it says nothing of deferred requests)."""
    if not isinstance(slots, list) or not all(isinstance(slot, dict) and "is_processing" in slot for slot in slots):
        return QueueSignals(server=LABELS["llamacpp"])
    return QueueSignals(server=LABELS["llamacpp"], running=sum(bool(slot["is_processing"]) for slot in slots), slots=len(slots))


def total_slots(props: Any) -> int | None:
    """llama.cpp's /props `total_slots` (the `--parallel` in effect)."""
    value = props.get("total_slots") if isinstance(props, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def kind_from_models(models: Any) -> str | None:
    """The kind a /v1/models reply names in `owned_by` (llama.cpp "llamacpp", vLLM "vllm", SGLang "sglang")."""
    data = models.get("data") if isinstance(models, dict) else None
    owners = {item.get("owned_by") for item in data if isinstance(item, dict)} if isinstance(data, list) else set()
    return next((kind for kind in GAUGES if kind in owners), None)


def kind_from_metrics(text: str) -> str | None:
    """The kind whose metric prefix a /metrics text has ("llamacpp:", "vllm:", "sglang:")."""
    match = _PREFIX.search(text)
    return match.group(1) if match else None


def server_root(url: str) -> str:
    """The server's own root: these endpoints sit beside /v1, not under it."""
    root = url.rstrip("/")
    return root.removesuffix("/v1")


class ServerTelemetry:
    """Reads one server's gauges, as its host's `telemetry` setting says."""

    def __init__(self, url: str, mode: Telemetry = Telemetry.AUTO, *, api_key: str | None = None) -> None:
        self.root = server_root(url)
        self.kind: str | None = None if mode is Telemetry.AUTO else mode.value  # None: not detected yet
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}  # llama.cpp's --api-key guards /metrics too
        self._clients = PerLoop(lambda: httpx.AsyncClient(base_url=self.root, headers=headers, timeout=httpx.Timeout(READ_TIMEOUT_S)))
        self._slots: int | None = None  # llama.cpp's /props total_slots, once read

    def _client(self) -> httpx.AsyncClient:
        return self._clients.get()

    async def aclose(self) -> None:
        client = self._clients.pop()
        if client is not None:
            await client.aclose()

    async def read(self) -> QueueSignals | None:
        """The server's gauges now; None when it has none (`none`, or `auto` found no known kind)."""
        if self.kind is None:
            self.kind = await self._detect()
            if self.kind is None:  # the server did not answer: try again next time
                return QueueSignals()
        if self.kind == Telemetry.NONE:
            return None
        if self.kind == "llamacpp":
            return await self._read_llamacpp()
        text = await self._get_text("/metrics")
        return metric_signals(self.kind, text) if text is not None else QueueSignals(server=LABELS[self.kind])

    async def _detect(self) -> str | None:
        """The server's kind, `none` when it is none we know, None when it could not be asked."""
        try:
            models = await self._client().get("/v1/models")
        except httpx.HTTPError:
            return None
        if not models.is_success:
            return None  # loading (llama.cpp answers 503), or not an OpenAI server: ask again later
        kind = kind_from_models(_json(models))
        if kind is None:
            text = await self._get_text("/metrics")
            kind = kind_from_metrics(text) if text is not None else None
        return kind or Telemetry.NONE.value

    async def _read_llamacpp(self) -> QueueSignals:
        if self._slots is None:
            self._slots = total_slots(await self._get_json("/props"))
        text = await self._get_text("/metrics")
        signals = metric_signals("llamacpp", text) if text is not None else QueueSignals(server=LABELS["llamacpp"])
        if signals.running is None or self._slots is None:  # metrics off, or /props unreadable: /slots tells busy of total
            from_slots = slot_signals(await self._get_json("/slots"))
            return QueueSignals(
                server=signals.server,
                running=signals.running if signals.running is not None else from_slots.running,
                waiting=signals.waiting,
                slots=self._slots or from_slots.slots,
            )
        return QueueSignals(server=signals.server, running=signals.running, waiting=signals.waiting, slots=self._slots)

    async def _get_text(self, path: str) -> str | None:
        try:
            response = await self._client().get(path)
        except httpx.HTTPError:
            return None
        return response.text if response.is_success else None

    async def _get_json(self, path: str) -> Any:
        try:
            response = await self._client().get(path)
        except httpx.HTTPError:
            return None
        return _json(response) if response.is_success else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None

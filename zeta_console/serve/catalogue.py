"""The model names the endpoint offers: virtual `zeta:*` models and the real models beneath.

A virtual model routes by task (`zeta:auto` lets the router classify); a real model name pins
the request to that model. Capabilities decide up front, with Ollama's error texts, what a
name can serve: a virtual model can do whatever one of the tiers it reaches can. They are the
router's (its snapshot's): the configured ones plus what each host's /api/show reported, so the
endpoint refuses only what the router could not route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zeta_console.ollama_api.names import canonical_name
from zeta_console.router.api import RouterSnapshot
from zeta_console.settings import Settings, Task

VIRTUAL_MODELS: dict[str, Task | None] = {
    "zeta:auto": None,
    "zeta:simple": Task.SIMPLE,
    "zeta:code": Task.CODE,
    "zeta:reason": Task.COMPLEX_REASONING,
    "zeta:embed": Task.EMBEDDING,
}


@dataclass(frozen=True)
class CatalogueModel:
    name: str  # as listed in /api/tags: name:tag
    task: Task | None  # virtual models: the task they route as (None = classify)
    pinned_model: str | None  # real models: the request is pinned to this model
    tiers: tuple[str, ...]  # the tiers a request may reach, in route order
    configured: frozenset[str]  # the capabilities the configuration gives those tiers

    @property
    def is_virtual(self) -> bool:
        return self.pinned_model is None


class Catalogue:
    def __init__(self, settings: Settings, snapshot: Callable[[], RouterSnapshot]) -> None:
        self._snapshot = snapshot
        self._configured_by_tier = {model.tier: model.capabilities for model in settings.models}
        self.models: tuple[CatalogueModel, ...] = (
            *(self._virtual(name, task, settings) for name, task in VIRTUAL_MODELS.items()),
            *self._real(settings),
        )
        self._by_name = {canonical_name(model.name): model for model in self.models}

    def resolve(self, name: str) -> CatalogueModel | None:
        return self._by_name.get(canonical_name(name))

    def capabilities(self, model: CatalogueModel, snapshot: RouterSnapshot | None = None) -> frozenset[str]:
        """What the router knows the model's tiers can do (any one of their endpoints)."""
        endpoints = (snapshot or self._snapshot()).endpoints
        return frozenset().union(*(endpoint.capabilities for endpoint in endpoints if endpoint.tier in model.tiers))

    def supports(self, model: CatalogueModel, capability: str) -> bool:
        # The router's capabilities always include the configured ones, so only a capability the
        # configuration does not give costs a snapshot.
        return capability in model.configured or capability in self.capabilities(model)

    def _union(self, tiers: Iterable[str]) -> frozenset[str]:
        return frozenset().union(*(self._configured_by_tier.get(tier, frozenset()) for tier in tiers))

    def _virtual(self, name: str, task: Task | None, settings: Settings) -> CatalogueModel:
        routes = settings.routes.values() if task is None else [settings.routes.get(task, ())]
        tiers = tuple(dict.fromkeys(tier for route in routes for tier in route))
        return CatalogueModel(name, task, None, tiers, self._union(tiers))

    def _real(self, settings: Settings) -> Iterable[CatalogueModel]:
        tiers_by_model: dict[str, list[str]] = {}
        for model in settings.models:
            tiers_by_model.setdefault(model.model, []).append(model.tier)
        for model_name, tiers in tiers_by_model.items():
            yield CatalogueModel(canonical_name(model_name), None, model_name, tuple(tiers), self._union(tiers))

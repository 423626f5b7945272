"""One model on one host, as the router addresses it."""

from __future__ import annotations

from dataclasses import dataclass

from zeta_console.settings import Settings


@dataclass(frozen=True)
class Endpoint:
    id: str  # "tier@host"
    tier: str
    model: str
    host: str
    url: str
    slots: int


def configured_endpoints(settings: Settings) -> dict[str, Endpoint]:
    """Every (tier, host) pair of the configuration, by id, in the configuration's order."""
    return {
        f"{model.tier}@{host}": Endpoint(f"{model.tier}@{host}", model.tier, model.model, host, settings.host(host).url, model.slots)
        for model in settings.models
        for host in model.hosts
    }

"""The read-only endpoints' bodies: /api/tags, /api/show, /api/ps (ollama-api.md §1.7-1.9).

Real models are described from the configuration and the router's snapshot (capabilities included) (the endpoint does
not call Ollama for these); a real model served by several hosts appears once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from zeta_console.router.api import RouterSnapshot
from zeta_console.serve.catalogue import Catalogue, CatalogueModel

ZETA_FAMILY = "zeta"


def local_time(moment: float) -> str:
    """Ollama shows these times in the server's zone, with its offset."""
    return datetime.fromtimestamp(moment).astimezone().isoformat()


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(model: CatalogueModel) -> dict[str, Any]:
    family = ZETA_FAMILY if model.is_virtual else ""
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": "",
        "quantization_level": "",
    }


def _resident_size(snapshot: RouterSnapshot, model_name: str | None) -> int:
    return sum(endpoint.size_bytes or 0 for endpoint in snapshot.endpoints if endpoint.model == model_name)


def tags(catalogue: Catalogue, snapshot: RouterSnapshot, started_at: float) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": model.name,
                "model": model.name,
                "modified_at": local_time(started_at),
                "size": _resident_size(snapshot, model.pinned_model),
                "digest": _digest(model.name),
                "details": _details(model),
                "capabilities": sorted(catalogue.capabilities(model, snapshot)),
            }
            for model in catalogue.models
        ]
    }


def show(catalogue: Catalogue, model: CatalogueModel, snapshot: RouterSnapshot, started_at: float) -> dict[str, Any]:
    routes_to = " -> ".join(model.tiers)
    summary = (
        f"zeta virtual model: routes to {routes_to}"
        if model.is_virtual
        else f"{model.pinned_model} through the zeta router (tiers: {routes_to})"
    )
    return {
        "license": "",
        "modelfile": f"# {summary}\n",
        "parameters": "",
        "template": "",
        "details": _details(model),
        "model_info": {"general.architecture": ZETA_FAMILY if model.is_virtual else "", "zeta.tiers": list(model.tiers)},
        "capabilities": sorted(catalogue.capabilities(model, snapshot)),
        "modified_at": local_time(started_at),
    }


def ps(catalogue: Catalogue, snapshot: RouterSnapshot) -> dict[str, Any]:
    rows: list[tuple[float, dict[str, Any]]] = []
    for model in catalogue.models:
        resident = [endpoint for endpoint in snapshot.endpoints if endpoint.model == model.pinned_model and endpoint.resident]
        if not resident:
            continue
        expires_at = max((endpoint.expires_at for endpoint in resident if endpoint.expires_at is not None), default=snapshot.taken_at)
        row = {
            "name": model.name,
            "model": model.name,
            "size": sum(endpoint.size_bytes or 0 for endpoint in resident),
            "digest": _digest(model.name),
            "details": _details(model),
            "expires_at": local_time(expires_at),
            "size_vram": sum(endpoint.size_vram_bytes or 0 for endpoint in resident),
        }
        rows.append((expires_at, row))
    rows.sort(key=lambda pair: pair[0], reverse=True)  # latest expiry first, as Ollama sorts
    return {"models": [row for _, row in rows]}

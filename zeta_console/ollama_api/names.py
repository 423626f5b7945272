"""Model names as Ollama matches them."""

from __future__ import annotations

_DEFAULT_PREFIXES = ("registry.ollama.ai/", "library/")


def canonical_name(name: str) -> str:
    """Ollama's matching: case-insensitive, default registry/namespace, tag `latest`."""
    canonical = name.strip().lower()
    for prefix in _DEFAULT_PREFIXES:
        canonical = canonical.removeprefix(prefix)
    if ":" not in canonical.rsplit("/", 1)[-1]:
        canonical += ":latest"
    return canonical

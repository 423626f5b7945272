"""What the router asks of one model server, whatever API it speaks (`Backend`).

A backend converts its client's replies into the neutral types of `backends.types` and every
client exception into a `BackendError`. Streams open lazily (no I/O until the first delta is
awaited) and stop the generation on the server when `aclose()`d.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from zeta_console.backends.types import DeltaStream, Embeddings, InstalledModel, ModelFacts, QueueSignals, ResidentModel
from zeta_console.settings import HostConfig, Timeouts


class Backend(Protocol):
    """One host. Fields left None are not sent; a backend drops those its API lacks."""

    url: str

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> DeltaStream: ...

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        suffix: str | None = None,
        images: Sequence[bytes] | None = None,
        raw: bool | None = None,
        template: str | None = None,
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> DeltaStream: ...

    async def embed(
        self,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        truncate: bool | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> Embeddings: ...

    async def version(self) -> str:
        """The liveness probe: the server's name and version ("ollama 0.12.3")."""
        ...

    async def loaded(self) -> tuple[ResidentModel, ...]: ...
    async def installed(self) -> tuple[InstalledModel, ...]: ...
    async def show(self, model: str) -> ModelFacts: ...

    async def capabilities(self, model: str) -> frozenset[str] | None:
        """What the server says the model can do; None when it does not say."""
        ...

    def server_label(self) -> str:
        """What the host runs, as people call it ("Ollama", "llama.cpp"), from its configuration and
        what it has answered so far; a generic name while that says nothing more."""
        ...

    def missing_advice(self, model: str) -> str:
        """What the operator can do when the host does not have `model` (shown with the MISSING status)."""
        ...

    async def queue_signals(self) -> QueueSignals | None:
        """The server's own load gauges; None when it has none."""
        ...

    async def aclose(self) -> None: ...


# A backend kind's constructor: the host's configuration and the fleet's timeouts.
BackendFactory = Callable[[HostConfig, Timeouts], Backend]

"""Which module serves each kind of host (`api:` in a host's configuration), and the fleet's backends.

Adding a kind of server is one module that implements `protocol.Backend` and one line in
`BACKENDS`. Modules are named, not imported, so reading the configuration (which checks `api`
against these names) does not load every client library.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import cast

from zeta_console.backends.protocol import Backend, BackendFactory
from zeta_console.settings import HostConfig, Timeouts

BACKENDS: dict[str, str] = {
    "ollama": "zeta_console.backends.ollama:OllamaBackend",
    "openai": "zeta_console.backends.openai:OpenAIBackend",
}


def backend_factory(api: str) -> BackendFactory:
    """The constructor of the backend kind `api` (a name the configuration has already checked)."""
    module, name = BACKENDS[api].split(":")
    return cast(BackendFactory, getattr(importlib.import_module(module), name))


class Backends:
    """The backends of a fleet, one per host name, each of its host's kind."""

    def __init__(self, hosts: Iterable[HostConfig], timeouts: Timeouts) -> None:
        hosts = tuple(hosts)
        self._by_host = {host.name: backend_factory(host.api)(host, timeouts) for host in hosts}

    def __getitem__(self, host: str) -> Backend:
        return self._by_host[host]

    async def aclose(self) -> None:
        for backend in self._by_host.values():
            await backend.aclose()

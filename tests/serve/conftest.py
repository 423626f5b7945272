"""A served stack for the tests: emulated fleet -> router -> endpoint, all real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest_asyncio

from zeta_console.demo import RunningFleet, demo_fleet
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import RunningEndpoint, start_endpoint
from zeta_console.settings import Settings

FAST = 200.0  # emulated latency runs this many times faster than real models


@dataclass(frozen=True)
class Served:
    fleet: RunningFleet
    settings: Settings
    router: ZetaDynamicRouter
    endpoint: RunningEndpoint

    @property
    def url(self) -> str:
        return self.endpoint.url


@asynccontextmanager
async def serving(
    time_scale: float = FAST,
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    base: Settings | None = None,
    access_log: Callable[[str], None] | None = None,
) -> AsyncIterator[Served]:
    async with demo_fleet(time_scale=time_scale, base=base) as (fleet, settings), ZetaDynamicRouter(settings) as router:
        endpoint = await start_endpoint(router, settings, listen, token, access_log)
        try:
            yield Served(fleet, settings, router, endpoint)
        finally:
            await endpoint.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def served() -> AsyncIterator[Served]:
    """One stack shared by a module's tests (they must not change the router's controls)."""
    async with serving() as stack:
        yield stack


def busy_slots(fleet: RunningFleet) -> int:
    """Slots the emulator is really using or queueing for (its truth, not the router's bookkeeping)."""
    models = fleet.host("local").state()["models"].values()  # type: ignore[attr-defined]
    return sum(int(model["busy_slots"]) + int(model["waiting"]) for model in models)

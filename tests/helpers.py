"""Synchronisation helpers shared by the tests: poll a condition, never sleep blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from zeta_console.router.api import Decision
from zeta_console.router.router import ZetaDynamicRouter


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 5.0,
    interval: float = 0.005,
    message: str = "condition",
) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def wait_until_sync(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005, message: str = "condition") -> None:
    """The same for synchronous tests (e.g. the sync ollama client)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def cancel_when_chosen(router: ZetaDynamicRouter, endpoint: str, task: asyncio.Future[object]) -> None:
    """Cancel `task` (a client's request holding a slot) as soon as the router chooses `endpoint` for another:
    that slot frees for the other request's failover then, not when some time-out ends `task`."""

    def listen(event: object) -> None:
        if isinstance(event, Decision) and event.chosen == endpoint:
            task.cancel()

    router.subscribe(listen)

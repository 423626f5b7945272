"""Shared fixtures for the console tests: isolated XDG dirs and cwd, a polling helper for pilots."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from tests.helpers import wait_until
from tests.ui.terminal import tmux_server  # noqa: F401  (the fixture, for the terminal tests)


async def settle(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0, message: str = "condition") -> None:
    """Let the app process messages until `predicate` holds (no bare sleeps)."""

    async def check() -> bool:
        await pilot.pause()
        return predicate()

    await wait_until(check, timeout=timeout, interval=0.02, message=message)

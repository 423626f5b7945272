"""Where a router is built and wired: the console, `serve`, `route` and `bench` all come through here.

The router knows nothing of the journal: the journal is one of its listeners, subscribed first
so that it sees every event before the console or `serve` does.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, ExitStack

from zeta_console.journal import Journal
from zeta_console.router.controls import PolicyFactory
from zeta_console.router.policies import make_policy
from zeta_console.router.router import HEALTH_POLL_S, ZetaDynamicRouter
from zeta_console.settings import Settings


def build_router(
    settings: Settings, *, journal: Journal | None = None, policy_factory: PolicyFactory = make_policy,
    health_poll_s: float = HEALTH_POLL_S, time_scale: float = 1.0, seed: int | None = None,
) -> ZetaDynamicRouter:
    """A router over `settings` (not started), its records and operator actions written to `journal` if one is given."""
    router = ZetaDynamicRouter(settings, policy_factory=policy_factory, health_poll_s=health_poll_s, time_scale=time_scale, seed=seed)
    if journal is not None:
        router.subscribe(journal.observe)
    return router


def open_journal(stack: ExitStack | AsyncExitStack, settings: Settings, *, demo: bool) -> Journal | None:
    """The configured journal, closed when `stack` closes; none for `--demo`: simulated traffic is not journalled."""
    if demo:
        return None
    journal = Journal.from_settings(settings)
    stack.callback(journal.close)
    return journal

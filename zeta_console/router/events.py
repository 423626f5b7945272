"""The router's listeners: every Decision, RequestRecord and OperatorAction, delivered synchronously on the router's loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

from zeta_console.router.api import EventListener, RouterEvent

log = logging.getLogger(__name__)


class Listeners:
    def __init__(self) -> None:
        self._listeners: list[EventListener] = []

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Returns the function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: RouterEvent) -> None:
        """A listener that raises is logged and skipped: one broken reader never stops the others or the request."""
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("router event listener failed on %s", type(event).__name__)

"""Garbage-collector settings for a long-running process that has finished starting.

A full collection walks every object alive; right after start-up that is the whole heap of
modules, settings, the app and the router, so each full collection stalls the event loop
(~20 ms in `serve`, 170-320 ms in the console under load). Freezing what exists at that point
leaves it out of later collections.
"""

from __future__ import annotations

import gc


def settle_heap(young_threshold: int | None = None) -> None:
    """Collect once, freeze everything alive now; optionally collect the young generation less
    often (the console allocates many short-lived render objects per frame)."""
    gc.collect()
    gc.freeze()
    if young_threshold is not None:
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])

"""`settle_heap`: what is alive after start-up stays out of later garbage collections."""

from __future__ import annotations

import gc

from zeta_console.serve.endpoint import settle_heap


def test_settle_heap_freezes_the_start_up_heap() -> None:
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

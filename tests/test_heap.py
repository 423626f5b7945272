"""`settle_heap`: what is alive after start-up stays out of later garbage collections."""

from __future__ import annotations

import gc

from zeta_console.heap import settle_heap


def test_settle_heap_freezes_the_start_up_heap() -> None:
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_settle_heap_can_raise_the_young_generation_threshold() -> None:
    before = gc.get_threshold()
    try:
        settle_heap(young_threshold=before[0] * 4)
        assert gc.get_threshold() == (before[0] * 4, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

"""What an endpoint card says about where its model is loaded (/api/ps size and size_vram)."""

from __future__ import annotations

from zeta_console.ui.widgets.endpoint_card import where_loaded

GB = 1024**3


def test_where_the_model_sits_is_said_in_a_few_words() -> None:
    assert where_loaded(5 * GB, 5 * GB) == "5.0 GB in VRAM"
    assert where_loaded(5 * GB, 0) == "5.0 GB on CPU"
    assert where_loaded(11 * GB, 8 * GB) == "11.0 GB, 8.0 GB in VRAM"
    assert where_loaded(5 * GB, None) == "loaded 5.0 GB"

"""The charts' time series: a point a second per endpoint, kept for the widest chart window."""

from __future__ import annotations

from dataclasses import replace

from tests.ui.frozen import SNAPSHOT, T0
from zeta_console.ui.history import HISTORY_S, SeriesStore
from zeta_console.ui.screens.charts import WINDOWS_S, threshold_in_view


def test_snapshots_closer_than_a_second_add_one_point() -> None:
    series = SeriesStore()
    for tenth in range(25):  # 2.5 s of refreshes at 10 Hz
        series.record(replace(SNAPSHOT, taken_at=T0 + tenth / 10))
    assert [sample.at for sample in series.window("coder@local", 0)] == [T0, T0 + 1.0, T0 + 2.0]


def test_the_widest_chart_window_is_kept_and_no_more() -> None:
    assert max(WINDOWS_S) == HISTORY_S
    series = SeriesStore()
    for second in range(HISTORY_S + 100):
        series.record(replace(SNAPSHOT, taken_at=T0 + second))
    kept = series.window("coder@local", 0)
    assert len(kept) == HISTORY_S
    assert kept[0].at == T0 + 100
    assert len(series.window("coder@local", T0 + HISTORY_S + 100 - 30)) == 30


def test_a_threshold_far_above_the_data_is_named_not_drawn() -> None:
    assert threshold_in_view(60.0, [])  # nothing plotted yet: the line shows where the limit is
    assert threshold_in_view(2.0, [0.4, 1.5])
    assert not threshold_in_view(60.0, [1.3, 11.1])

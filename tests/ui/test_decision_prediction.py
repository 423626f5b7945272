"""The decision detail shows what the router predicted next to what happened."""

from __future__ import annotations

from dataclasses import replace

from tests.ui.frozen import events
from zeta_console.router.api import Decision, Prediction, Ranking, RequestRecord
from zeta_console.ui.eventlog import LogEntry
from zeta_console.ui.screens.decision import decision_lines
from zeta_console.ui.widgets.decision_log import fit_columns, row_cells


def entry(prediction: Prediction, *, ttft_s: float, total_s: float, finished: bool = True) -> LogEntry:
    decision = next(event for event in events() if isinstance(event, Decision))
    decision = replace(decision, prediction=prediction)
    record = next(event for event in events() if isinstance(event, RequestRecord))
    item = LogEntry.from_decision(decision)
    if finished:
        item.record = replace(record, decision=decision, ttft_s=ttft_s, total_s=total_s)
    return item


def text(item: LogEntry) -> str:
    return "\n".join(line.plain for line in decision_lines(item, None))


def test_predicted_and_actual_times_both_count_from_the_decision() -> None:
    prediction = Prediction(ttft_s=0.4, completion_s=3.0, output_tokens=120.0, ranked_by=Ranking.COMPLETION, waited_s=14.0)
    shown = text(entry(prediction, ttft_s=14.5, total_s=16.4))
    assert "predicted TTFT 400ms · completion 3.00s · ~120 tokens out · ranked by completion · decided after 14.0s waiting" in shown
    assert "actual TTFT 500ms (predicted -20%) · completion 2.40s (predicted +25%)" in shown
    assert "TTFT 14.5s" in shown  # the caller's own wait, queue included, on the outcome line


def test_a_reader_ranking_and_a_running_request_show_the_prediction_alone() -> None:
    prediction = Prediction(ttft_s=0.2, completion_s=1.0, output_tokens=60.0, ranked_by=Ranking.READER)
    shown = text(entry(prediction, ttft_s=0.0, total_s=0.0, finished=False))
    assert "ranked by TTFT + decode slower than reading" in shown and "waiting" not in shown
    assert "actual" not in shown


def test_the_log_row_says_a_request_waited_before_its_decision() -> None:
    """The row's TTFT counts from arrival and its reason's prediction from the decision: without the wait, a
    `4.66s` TTFT next to `predicted TTFT 0.02 s` reads as a broken prediction."""
    layout = fit_columns(160)
    keys = [key for key, _, _ in layout.columns]

    def reason(waited_s: float) -> str:
        prediction = Prediction(ttft_s=0.02, completion_s=0.6, output_tokens=40.0, ranked_by=Ranking.READER, waited_s=waited_s)
        item = entry(prediction, ttft_s=4.66, total_s=5.2)
        return dict(zip(keys, row_cells(item, None, layout), strict=True))["reason"].plain

    assert reason(4.6).startswith("decided after 4.60s waiting: ")
    assert "waiting" not in reason(0.01)

"""The decision table drops its oldest rows in one pass without moving what the reader sees."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from zeta_console.ui.eventlog import Batch, LogEntry
from zeta_console.ui.widgets.decision_log import (
    MAX_ROWS,
    REASON_FLOOR,
    REASON_MIN,
    SCROLLBAR,
    TRIM_SLACK,
    DecisionLog,
    DecisionTable,
    duration_order,
    fit_columns,
    row_cells,
)


def entry(index: int, total_s: float = 0.5) -> LogEntry:
    return LogEntry(
        key=f"r{index}", at=1_750_000_000.0 + index, client="loadgen", task="code", confidence=0.9,
        endpoint="coder@local", reason=f"request {index}", ttft_s=0.1, total_s=total_s, outcome="ok",
    )  # fmt: skip


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DecisionLog(None)


def keys(table: DecisionTable) -> list[str]:
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


async def test_a_reader_scrolled_up_keeps_the_same_rows_in_view_and_under_the_cursor() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 30)) as pilot:
        log = app.query_one(DecisionLog)
        table = log.table
        log._append([entry(index) for index in range(MAX_ROWS)])
        await pilot.pause()
        table.move_cursor(row=MAX_ROWS - 200, animate=False)  # away from the tail: no longer following
        await pilot.pause()
        assert not table.following
        top_before = round(table.scroll_y)
        first_in_view = keys(table)[top_before]
        log._show(Batch(added=[entry(MAX_ROWS + index) for index in range(TRIM_SLACK + 1)]))
        await pilot.pause()
        assert table.row_count == MAX_ROWS
        assert keys(table) == [f"r{index}" for index in range(TRIM_SLACK + 1, MAX_ROWS + TRIM_SLACK + 1)]
        assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == f"r{MAX_ROWS - 200}"
        assert keys(table)[round(table.scroll_y)] == first_in_view
        assert f"request {MAX_ROWS - 200}" in "\n".join(str(table.render_line(y).text) for y in range(table.size.height))


async def test_a_sorted_table_stays_sorted_when_the_oldest_rows_go() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 30)) as pilot:
        log = app.query_one(DecisionLog)
        table = log.table
        log._append([entry(index, total_s=(index * 7919) % 1000 / 100) for index in range(20)])
        await pilot.pause()
        table.sort("total", key=lambda cell: duration_order(cell.plain))
        before = keys(table)
        table.drop_oldest(5)
        await pilot.pause()
        assert keys(table) == [key for key in before if int(key[1:]) >= 5]


def test_the_reason_gets_the_room_the_optional_columns_give_up() -> None:
    wide, narrow = fit_columns(120), fit_columns(80)
    assert not wide.narrow and [key for key, _, _ in wide.columns][1] == "client"
    assert narrow.narrow and {"client", "ttft"}.isdisjoint(key for key, _, _ in narrow.columns)
    assert wide.columns[-1][0] == narrow.columns[-1][0] == "reason"
    assert wide.columns[-1][2] >= REASON_MIN and narrow.columns[-1][2] >= REASON_FLOOR
    used = sum(width + 2 for _, _, width in narrow.columns) + SCROLLBAR  # cell padding, the scrollbar
    assert used == 80
    assert fit_columns(60).columns[-1][2] == REASON_FLOOR  # then the table scrolls sideways
    assert fit_columns(300).columns[-1][2] > fit_columns(200).columns[-1][2]


class Routed(App[None]):
    """The log with an EventLog behind it, rebuilt as the main screen does."""

    def __init__(self) -> None:
        super().__init__()
        self.entries = [entry(index) for index in range(30)]

    def compose(self) -> ComposeResult:
        yield DecisionLog(None)

    def on_decision_log_columns_changed(self) -> None:
        self.query_one(DecisionLog).rebuild(self.entries)


async def test_widening_the_terminal_brings_the_optional_columns_back_with_the_rows() -> None:
    app = Routed()
    async with app.run_test(size=(76, 20)) as pilot:
        log = app.query_one(DecisionLog)
        log.rebuild(app.entries)
        await pilot.pause()
        assert log.columns.narrow and "client" not in [column.key.value for column in log.table.ordered_columns]
        await pilot.resize_terminal(140, 20)
        await pilot.pause()
        keys = [column.key.value for column in log.table.ordered_columns]
        assert not log.columns.narrow and keys[1] == "client" and keys[-1] == "reason"
        assert log.table.row_count == 30
        assert str(log.table.get_cell("r29", "client")) == "loadgen"
        reason_width = log.table.columns[keys[-1]].width  # type: ignore[index]
        await pilot.resize_terminal(160, 20)  # same columns, a wider reason: rows kept
        await pilot.pause()
        assert log.table.columns["reason"].width == reason_width + 20  # type: ignore[index]
        assert log.table.row_count == 30


def test_the_reason_cell_does_not_repeat_the_endpoint_column() -> None:
    routed = entry(1)
    routed.reason = "coder@local predicted TTFT 0.12 s; beat reasoner@local"
    cells = dict(zip([key for key, _, _ in fit_columns(120).columns], row_cells(routed, None, fit_columns(120)), strict=True))
    assert cells["endpoint"].plain == "coder@local"
    assert cells["reason"].plain == "predicted TTFT 0.12 s; beat reasoner@local"


def header(table: DecisionTable) -> list[str]:
    return [str(column.label) for column in table.ordered_columns]


async def test_s_sorts_by_the_next_column_shift_reverses_and_end_goes_back_to_the_tail() -> None:
    app = Routed()
    app.entries = [entry(index, total_s=0.5 + (index * 7919) % 1000 / 100) for index in range(30)]
    async with app.run_test(size=(160, 20)) as pilot:
        log = app.query_one(DecisionLog)
        log.rebuild(app.entries)
        table = log.table
        table.focus()
        await pilot.pause()
        assert header(table)[0] == "time ▲" and keys(table)[-1] == "r29"
        for _ in range(6):  # time -> client -> task -> endpoint -> outcome -> TTFT -> total
            await pilot.press("s")
        assert "total ▲" in header(table) and header(table)[0] == "time"
        totals = [duration_order(table.get_row_at(row)[-2].plain) for row in range(table.row_count)]
        assert totals == sorted(totals) and totals[0] != totals[-1]
        await pilot.press("S")
        assert "total ▼" in header(table)
        assert keys(table)[0] == max(app.entries, key=lambda item: item.total_s or 0).key
        running = entry(102)
        running.total_s = None
        log.apply(Batch(added=[entry(100, total_s=99.0), entry(101, total_s=0.001), running]))  # a sorted log places new rows
        await pilot.pause()
        assert keys(table)[0] == "r100" and keys(table)[-2:] == ["r101", "r102"]  # no total yet: last either way
        await pilot.press("end")
        assert header(table)[0] == "time ▲" and "total" in header(table)
        assert keys(table)[-3:] == ["r100", "r101", "r102"] and table.cursor_row == table.row_count - 1


async def test_clicking_a_header_sorts_by_it_and_a_second_click_reverses() -> None:
    app = Routed()
    app.entries = [entry(index, total_s=(index * 7919) % 1000 / 100) for index in range(10)]
    async with app.run_test(size=(160, 20)) as pilot:
        log = app.query_one(DecisionLog)
        log.rebuild(app.entries)
        await pilot.pause()
        x = sum(column.get_render_width(log.table) for column in log.table.ordered_columns[:6]) + 2  # inside "total"
        await pilot.click(DecisionTable, offset=(x, 0))
        assert "total ▲" in header(log.table)
        await pilot.click(DecisionTable, offset=(x, 0))
        assert "total ▼" in header(log.table)


async def test_a_filter_that_matches_nothing_says_so() -> None:
    app = Routed()
    async with app.run_test(size=(120, 20)) as pilot:
        log = app.query_one(DecisionLog)
        log.rebuild(app.entries)
        filter_box = log.query_one("#log-filter", Input)
        assert filter_box.placeholder.startswith("type to filter, e.g.")
        empty = log.query_one("#log-empty", Static)
        assert not empty.display
        filter_box.value = "outcome:error"
        await pilot.pause()
        log.rebuild(app.entries)
        await pilot.pause()
        assert log.table.row_count == 0 and empty.display
        assert str(empty.content) == "no rows match “outcome:error”"
        errored = entry(50)
        errored.outcome = "error"
        log.apply(Batch(added=[errored]))
        await pilot.pause()
        assert log.table.row_count == 1 and not empty.display

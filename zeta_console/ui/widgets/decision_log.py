"""The decision log: every routed request and operator action, newest at the bottom."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from zeta_console.ui import format as fmt
from zeta_console.ui.eventlog import Batch, LogEntry, matches
from zeta_console.ui.widgets.log_table import LogTable

MAX_ROWS = 1000  # rows kept in the table; the EventLog keeps more for export
TRIM_SLACK = 250
# Under heavy load a table render costs a full-screen layout: batch rows to at most 2 renders/s.
BUSY_ROWS = 20
BUSY_INTERVAL_S = 0.5
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "time", 8),
    ("client", "client", 8),
    ("task", "task", 14),
    ("endpoint", "endpoint", 16),
    ("outcome", "outcome", 9),  # before the timings: still on screen when the log is narrow
    ("ttft", "TTFT", 6),
    ("total", "total", 6),
    ("reason", "reason", 70),
)
SHORT_TASKS = {"complex_reasoning": "reasoning"}


def row_cells(entry: LogEntry, tz: tzinfo | None) -> list[Text]:
    task = SHORT_TASKS.get(entry.task, entry.task)
    if entry.confidence is not None:
        task += f" {entry.confidence:.2f}"
    return [
        Text(fmt.clock(entry.at, tz)),
        Text(entry.client),
        Text(task),
        Text(entry.endpoint),
        Text(entry.outcome),
        Text(fmt.seconds(entry.ttft_s) if entry.ttft_s is not None else ""),
        Text(fmt.seconds(entry.total_s) if entry.total_s is not None else ""),
        Text(entry.reason, overflow="ellipsis", no_wrap=True),
    ]


def sort_value(text: str, duration: bool) -> tuple[float, str]:
    """Durations ("420ms", "1.20s") sort by value, blanks last; everything else as text."""
    if not duration:
        return (0.0, text)
    if not text:
        return (float("inf"), text)
    return (float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1]), text)


class DecisionTable(LogTable[Text]):
    BINDINGS = [
        Binding("enter", "open_entry", "Details", id="log.details"),
        Binding("end", "follow", "Follow tail", id="log.follow"),
    ]

    @dataclass
    class Opened(Message):
        key: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sort_key: ColumnKey | None = None
        self._sort_reverse = False

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def action_open_entry(self) -> None:
        if self.row_count:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
            if row_key.value is not None:
                self.post_message(self.Opened(row_key.value))

    def action_follow(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
        self.scroll_end(animate=False, immediate=True)

    @on(DataTable.HeaderSelected)
    def _sort(self, event: DataTable.HeaderSelected) -> None:
        """Click a header to sort by it; click again to reverse. End follows the tail again."""
        event.stop()
        key = event.column_key
        self._sort_reverse = not self._sort_reverse if key == self._sort_key else False
        self._sort_key = key
        duration = key.value in ("ttft", "total")
        self.sort(key, key=lambda cell: sort_value(cell.plain, duration), reverse=self._sort_reverse)

    @on(DataTable.RowSelected)
    def _open_clicked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(event.row_key.value))


class DecisionLog(Vertical):
    """A filter box over the table. Follows the tail only while the reader is at the bottom."""

    BINDINGS = [Binding("f", "focus_filter", "Filter log", id="log.filter")]

    @dataclass
    class FilterChanged(Message):
        query: str

    def __init__(self, tz: tzinfo | None, **kwargs: str) -> None:
        super().__init__(**kwargs)
        self.tz = tz
        self.query_text = ""
        self._pending = Batch()
        self._rendered_at = 0.0
        self.stale = False  # held more than a table's worth while hidden: rebuild from the EventLog

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: coder  task:code  outcome:error  (Enter)", id="log-filter")
        yield DecisionTable(id="log-table", cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> DecisionTable:
        return self.query_one(DecisionTable)

    def action_focus_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.post_message(self.FilterChanged(event.value))

    def rebuild(self, entries: Iterable[LogEntry]) -> None:
        self._pending = Batch()
        self.stale = False
        table = self.table
        table.clear()
        self._append([entry for entry in entries if matches(entry, self.query_text)][-MAX_ROWS:])
        table.action_follow()

    def hold(self, batch: Batch) -> None:
        """Paused or covered: keep the batch for when the log is shown again, so that showing it
        costs only the rows that changed; past a table's worth, a rebuild is cheaper."""
        if self.stale:
            return
        pending = self._merge(batch)
        if len(pending.added) + len(pending.updated) > MAX_ROWS:
            self._pending = Batch()
            self.stale = True

    def apply(self, batch: Batch) -> None:
        pending = self._merge(batch)
        busy = len(pending.added) + len(pending.updated) > BUSY_ROWS
        if not (pending.added or pending.updated) or busy and time.monotonic() - self._rendered_at < BUSY_INTERVAL_S:
            return
        self._pending = Batch()
        self._rendered_at = time.monotonic()
        self._show(pending)

    def _merge(self, batch: Batch) -> Batch:
        pending = self._pending
        pending.added += batch.added
        pending.updated += batch.updated
        return pending

    def _show(self, batch: Batch) -> None:
        table = self.table
        follow = table.following
        on_last_row = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        added = {entry.key for entry in batch.added}
        table.update_rows((entry.key, row_cells(entry, self.tz)) for entry in batch.updated if entry.key not in added)
        self._append([entry for entry in batch.added if matches(entry, self.query_text)])
        if table.row_count > MAX_ROWS + TRIM_SLACK:
            table.drop_oldest(table.row_count - MAX_ROWS)
        if follow:
            if on_last_row and table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False, scroll=False)
            table.scroll_end(animate=False, immediate=True)

    def _append(self, entries: list[LogEntry]) -> None:
        self.table.append_rows((entry.key, row_cells(entry, self.tz)) for entry in entries[-(MAX_ROWS + TRIM_SLACK) :])

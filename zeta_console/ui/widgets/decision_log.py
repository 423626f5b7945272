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
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from zeta_console.ui import format as fmt
from zeta_console.ui.eventlog import Batch, LogEntry, matches
from zeta_console.ui.widgets.log_table import LogTable

MAX_ROWS = 1000  # rows kept in the table; the EventLog keeps more for export
TRIM_SLACK = 250
# Under heavy load a table render repaints every visible row: at most one a second (measured: key -> screen
# p95 53-75 ms in-process against 61-91 ms at two a second; docs/BENCHMARKS.md).
BUSY_ROWS = 20
BUSY_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    narrow_width: int | None  # None: left out when the log is narrow (the decision detail has it)


# The reason takes what is left; below REASON_MIN the narrow set makes room for it. Each column has room
# for its label and the sort arrow ("total ▲"), and the outcome for "cancelled".
COLUMNS = (
    Column("time", "time", 8, 8),
    Column("client", "client", 8, None),
    Column("task", "task", 14, 9),  # the narrow cell has no confidence
    Column("endpoint", "endpoint", 16, 14),
    Column("outcome", "outcome", 9, 9),
    Column("ttft", "TTFT", 6, None),
    Column("total", "total", 7, 7),
)
REASON_MIN = 30
REASON_FLOOR = 20  # narrower than this the table scrolls sideways
CELL_PADDING = 2  # DataTable's cell_padding, both sides
SCROLLBAR = 1  # the table's vertical scrollbar (console.tcss)
SHORT_TASKS = {"complex_reasoning": "reasoning"}


@dataclass(frozen=True)
class ColumnLayout:
    columns: tuple[tuple[str, str, int], ...]  # key, label, width; the reason last
    narrow: bool  # the optional columns gave way to the reason


def fit_columns(width: int) -> ColumnLayout:
    """Every column while the reason keeps REASON_MIN cells, else the narrow set; the reason fills the rest."""
    wide = [(column.key, column.label, column.width) for column in COLUMNS]
    narrow = [(column.key, column.label, column.narrow_width) for column in COLUMNS if column.narrow_width is not None]
    for chosen in (wide, narrow):
        reason = width - SCROLLBAR - sum(cells + CELL_PADDING for _, _, cells in chosen) - CELL_PADDING
        if reason >= REASON_MIN or chosen is narrow:
            break
    return ColumnLayout((*chosen, ("reason", "reason", max(reason, REASON_FLOOR))), narrow=chosen is narrow)


def row_cells(entry: LogEntry, tz: tzinfo | None, layout: ColumnLayout) -> list[Text]:
    task = SHORT_TASKS.get(entry.task, entry.task)
    if entry.confidence is not None and not layout.narrow:
        task += f" {entry.confidence:.2f}"
    cells = {
        "time": Text(fmt.clock(entry.at, tz)),
        "client": Text(entry.client),
        "task": Text(task),
        "endpoint": Text(entry.endpoint),
        "outcome": Text(entry.outcome),
        "ttft": Text(fmt.seconds(entry.ttft_s) if entry.ttft_s is not None else ""),
        "total": Text(fmt.seconds(entry.total_s) if entry.total_s is not None else ""),
        "reason": Text(_reason(entry), overflow="ellipsis", no_wrap=True),
    }
    return [cells[key] for key, _, _ in layout.columns]


def _reason(entry: LogEntry) -> str:
    # the endpoint column already names the winner the reason starts with; the TTFT column counts from arrival,
    # the prediction from the decision, so a wait before the decision is said first
    reason = entry.reason.removeprefix(f"{entry.endpoint} ")
    prediction = entry.decision.prediction if entry.decision is not None else None
    wait = fmt.waited(prediction.waited_s) if prediction is not None else ""
    return f"decided after {wait} waiting: {reason}" if wait else reason


def duration_order(text: str, descending: bool = False) -> tuple[bool, float]:
    """Durations ("420ms", "1.20s") by value; blanks (running requests, operator actions) last either way."""
    if not text:
        return (True, 0.0)
    seconds = float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])
    return (False, -seconds if descending else seconds)


@dataclass(frozen=True)
class SortOrder:
    """The log's order. The default, time ascending, is the order rows arrive in: the table follows the tail
    and appends cost only the new rows. Any other order is re-applied after each change (at most once a second)."""

    column: str = "time"
    reverse: bool = False

    @property
    def arrival(self) -> bool:
        return self == SortOrder()

    def label(self, key: str, label: str) -> str:
        return f"{label} {'▼' if self.reverse else '▲'}" if key == self.column else label


DURATION_COLUMNS = ("ttft", "total")


class DecisionTable(LogTable[Text]):
    BINDINGS = [
        Binding("enter", "open_entry", "Details", id="log.details"),
        Binding("end", "follow", "Follow tail", id="log.follow"),
        Binding("s", "sort_next", "Sort", id="log.sort"),
        Binding("S", "sort_reverse", "Reverse sort", id="log.sort_reverse"),
        Binding("c", "copy_row", "Copy row", id="log.copy"),
    ]

    @dataclass
    class Opened(Message):
        key: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order = SortOrder()
        self._labels: dict[str, str] = {}

    def set_columns(self, layout: ColumnLayout) -> None:
        """Replace the columns (and drop the rows); same keys: only the widths change, rows kept."""
        self._labels = {key: label for key, label, _ in layout.columns}
        if self.order.column not in self._labels:
            self.order = SortOrder()
        if list(self._labels) == [column.key.value for column in self.ordered_columns]:
            self.set_column_widths({key: width for key, _, width in layout.columns})
            return
        self.clear(columns=True)
        for key, label, width in layout.columns:
            self.add_column(self.order.label(key, label), key=key, width=width)

    def sort_by(self, order: SortOrder) -> None:
        """Show the rows in `order`, named in the header with ▲ or ▼; back to arrival order, follow the tail."""
        self.order = order
        for key, label in self._labels.items():
            self.columns[ColumnKey(key)].label = Text(order.label(key, label))
        self.reorder()
        if order.arrival:
            self.follow_tail()

    def reorder(self) -> None:
        order = self.order
        column = ColumnKey(order.column)
        if order.column == "time":
            self.order_rows(None, reverse=order.reverse)
        elif order.column in DURATION_COLUMNS:
            self.order_rows(lambda cells: duration_order(cells[column].plain, descending=order.reverse))
        else:
            self.order_rows(lambda cells: cells[column].plain, reverse=order.reverse)

    def follow_tail(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
        self.scroll_end(animate=False, immediate=True)

    def action_sort_next(self) -> None:
        keys = list(self._labels)
        self.sort_by(SortOrder(keys[(keys.index(self.order.column) + 1) % len(keys)]))

    def action_sort_reverse(self) -> None:
        self.sort_by(SortOrder(self.order.column, not self.order.reverse))

    def action_follow(self) -> None:
        """End: arrival order again, cursor on the newest row."""
        self.sort_by(SortOrder())

    def action_open_entry(self) -> None:
        if self.row_count:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
            if row_key.value is not None:
                self.post_message(self.Opened(row_key.value))

    def action_copy_row(self) -> None:
        """The row under the cursor as one tab-separated line (Enter, then c, copies the whole decision)."""
        if self.row_count:
            self.app.copy_to_clipboard("\t".join(cell.plain for cell in self.get_row_at(self.cursor_row)) + "\n")
            self.notify("The row, tab-separated. Enter then c copies the whole decision.", title="Copied")

    @on(DataTable.HeaderSelected)
    def _sort_clicked(self, event: DataTable.HeaderSelected) -> None:
        """Click a header to sort by it; click again to reverse."""
        event.stop()
        column = str(event.column_key.value)
        self.sort_by(SortOrder(column, not self.order.reverse if column == self.order.column else False))

    @on(DataTable.RowSelected)
    def _open_clicked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(event.row_key.value))


class DecisionLog(Vertical):
    """A filter box over the table. In arrival order it follows the tail while the reader is at the bottom."""

    BINDINGS = [Binding("f", "focus_filter", "Filter log", id="log.filter")]

    @dataclass
    class FilterChanged(Message):
        query: str

    class ColumnsChanged(Message):
        """The width called for another set of columns: the rows must be rebuilt from the EventLog."""

    def __init__(self, tz: tzinfo | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tz = tz
        self.query_text = ""
        self.columns = fit_columns(0)
        self._pending = Batch()
        self._rendered_at = 0.0
        self.stale = False  # held more than a table's worth while hidden: rebuild from the EventLog

    def compose(self) -> ComposeResult:
        yield Input(placeholder="type to filter, e.g. coder  task:code  outcome:error", id="log-filter")
        yield DecisionTable(id="log-table", cursor_type="row", zebra_stripes=True)
        empty = Static(id="log-empty")
        empty.display = False
        yield empty

    @property
    def table(self) -> DecisionTable:
        return self.query_one(DecisionTable)

    def on_mount(self) -> None:
        self.table.set_columns(self.columns)

    def on_resize(self) -> None:
        fitted = fit_columns(self.size.width)
        if fitted == self.columns:
            return
        narrow_changed = fitted.narrow != self.columns.narrow
        self.columns = fitted
        self.table.set_columns(fitted)
        if narrow_changed:
            self.post_message(self.ColumnsChanged())

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
        table.set_columns(self.columns)
        self._append([entry for entry in entries if matches(entry, self.query_text)][-MAX_ROWS:])
        if table.order.arrival:
            table.follow_tail()
        else:
            table.reorder()
        self._show_empty()

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
        busy = len(pending.added) + len(pending.updated) > BUSY_ROWS or not self.table.order.arrival
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
        table.update_rows((entry.key, row_cells(entry, self.tz, self.columns)) for entry in batch.updated if entry.key not in added)
        self._append([entry for entry in batch.added if matches(entry, self.query_text)])
        if table.row_count > MAX_ROWS + TRIM_SLACK:
            table.drop_oldest(table.row_count - MAX_ROWS)
        if not table.order.arrival:
            table.reorder()
        elif follow:
            if on_last_row and table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False, scroll=False)
            table.scroll_end(animate=False, immediate=True)
        self._show_empty()

    def _show_empty(self) -> None:
        """An empty table under a filter says so, instead of looking like a log with no traffic."""
        empty = self.table.row_count == 0 and bool(self.query_text.strip())
        message = self.query_one("#log-empty", Static)
        if empty:
            message.update(f"no rows match “{self.query_text.strip()}”")
        message.display = empty
        self.set_class(empty, "-empty")

    def _append(self, entries: list[LogEntry]) -> None:
        self.table.append_rows((entry.key, row_cells(entry, self.tz, self.columns)) for entry in entries[-(MAX_ROWS + TRIM_SLACK) :])

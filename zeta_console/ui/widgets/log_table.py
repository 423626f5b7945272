"""A DataTable for a fast-moving log: rows appended at the end, updated in place, dropped from the head.

DataTable keys every render cache by one update count that add_row and update_cell bump, so each
new or changed row re-renders every visible cell (~360 at 160x48, tens of ms), and it has no bulk
removal (remove_row re-indexes every row per call; clear() and re-adding re-measures every cell:
a 120-250 ms frame at 1,000 rows). These methods do the same bookkeeping and forget only what
changed. They reach into DataTable's private caches (textual 8.x, pinned below 9);
tests/ui/test_log_table.py checks that the screen matches a table built from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any, Generic, TypeVar

from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

CellType = TypeVar("CellType")


# DataTable sizes its caches for any table (10,000 cells, 1,000 rows and lines). A log shows a screen
# of rows: caches that hold a few screens keep every hit and cut the objects a full garbage
# collection must walk (under load: 245k tracked objects -> 169k, docs/BENCHMARKS.md "Console").
CELL_CACHE = 3000
ROW_CACHE = 400
LINE_CACHE = 400


class LogTable(DataTable[CellType], Generic[CellType]):
    # Follow the tail while the reader is at the bottom; a resize must not end following.
    following: bool = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cell_render_cache = LRUCache(CELL_CACHE)
        self._row_render_cache = LRUCache(ROW_CACHE)
        self._line_cache = LRUCache(LINE_CACHE)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.following = new_value >= self.max_scroll_y

    def append_rows(self, rows: Iterable[tuple[str, Sequence[CellType]]]) -> None:
        """Add rows at the end; rows already there render from cache (appending changes none of them)."""
        kept = self._update_count
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._update_count = kept
        self._offset_cache.clear()  # the y-offsets, keyed by the update count, gained rows

    def update_rows(self, rows: Iterable[tuple[str, Sequence[CellType]]]) -> None:
        """Replace the cells of rows already in the table (unknown keys are ignored)."""
        changed: set[RowKey] = set()
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in self.rows:
                self._data[row_key] = dict(zip(self.columns, cells, strict=True))
                changed.add(row_key)
        if changed:
            self._forget_rendered(changed)
            self.refresh()

    def set_column_widths(self, widths: Mapping[str, int]) -> None:
        for key, width in widths.items():
            self.columns[ColumnKey(key)].width = width
        self._update_count += 1  # every cached cell was rendered at the old width
        self._clear_caches()
        self._require_update_dimensions = True
        self.check_idle()
        self.refresh(layout=True)

    def order_rows(self, key: Callable[[Mapping[ColumnKey, CellType]], Any] | None = None, reverse: bool = False) -> None:
        """Order the rows by `key` of their cells (None: the order they were added), ties in the order added;
        the cursor stays on its row. Like DataTable.sort, every visible cell renders again."""
        cursor_key = self._row_locations.get_key(self.cursor_row) if self.row_count else None
        data = self._data
        rows = list(data)  # the order added
        if key is not None:
            rows.sort(key=lambda row_key: key(data[row_key]), reverse=reverse)
        elif reverse:
            rows.reverse()
        self._row_locations = TwoWayDict({row_key: index for index, row_key in enumerate(rows)})
        self._update_count += 1
        row = self._row_locations.get(cursor_key) if cursor_key is not None else None
        if row is not None:
            self.move_cursor(row=row, animate=False, scroll=False)
        self.refresh()

    def drop_oldest(self, count: int) -> None:
        """Remove the `count` rows added first, keeping the display order and what the reader sees."""
        doomed = list(islice(self.rows, count))
        if not doomed:
            return
        locations = self._row_locations
        shown = [key for index in range(self.row_count) if (key := locations.get_key(index)) is not None]  # display order
        cursor_key = shown[self.cursor_row] if shown else None
        gone = set(doomed)
        above_view = sum(1 for line, key in enumerate(shown) if key in gone and line < self.scroll_y)  # one line a row
        for key in doomed:
            del self.rows[key]
            del self._data[key]
            self._new_rows.discard(key)
        self._updated_cells = {cell for cell in self._updated_cells if cell.row_key in self.rows}
        remaining = [key for key in shown if key not in gone]
        self._row_locations = TwoWayDict({key: index for index, key in enumerate(remaining)})
        self._update_count += 1
        self._clear_caches()
        self._require_update_dimensions = True
        self.check_idle()
        row = self._row_locations.get(cursor_key) if cursor_key in self.rows else 0
        self.move_cursor(row=row, animate=False, scroll=False)
        if not self.following:
            self.scroll_to(y=max(0, self.scroll_y - above_view), animate=False, immediate=True)
        self.refresh(layout=True)

    def _forget_rendered(self, row_keys: set[RowKey]) -> None:
        _discard_rows(self._cell_render_cache, row_keys)
        _discard_rows(self._row_render_cache, row_keys)
        self._row_renderable_cache.clear()  # keyed by row index; cheap to rebuild
        self._line_cache.clear()  # keyed by screen line; rebuilt from the row caches


def _discard_rows(cache: LRUCache[Any, Any], row_keys: set[RowKey]) -> None:
    """Drop the entries of a render cache keyed by (row key, ...)."""
    for cache_key in [cache_key for cache_key in cache.keys() if cache_key[0] in row_keys]:  # noqa: SIM118 (no __iter__)
        cache.discard(cache_key)

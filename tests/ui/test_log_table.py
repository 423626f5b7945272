"""LogTable keeps DataTable's render caches across appends, updates and head drops: what it
draws must be exactly what a table built from scratch with the same rows draws."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.pilot import Pilot
from textual.strip import Strip

from zeta_console.ui.widgets.log_table import LogTable

COLUMNS = ("id", "state", "note")


def row(index: int, state: str = "running") -> tuple[str, list[str]]:
    return f"r{index}", [str(index), state, f"note {index}"]


class TwoTables(App[None]):
    CSS = "LogTable { width: 1fr; height: 20; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield LogTable(id="incremental", zebra_stripes=True, cursor_type="row")
            yield LogTable(id="fresh", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        for table in self.query(LogTable):
            for name in COLUMNS:
                table.add_column(name, key=name, width=12)


def drawn(table: LogTable[str]) -> list[tuple[str, list[object]]]:
    strips: list[Strip] = [table.render_line(y) for y in range(table.size.height)]
    return [(strip.text, [segment.style for segment in strip]) for strip in strips]


async def same_as_fresh(pilot: Pilot[None], incremental: LogTable[str], fresh: LogTable[str], rows: list[tuple[str, list[str]]]) -> None:
    fresh.clear()
    fresh.append_rows(rows)
    for table in (incremental, fresh):
        table.move_cursor(row=len(rows) - 2)
        table.scroll_end(animate=False, immediate=True)
    pilot.app.set_focus(None)  # the same pseudo-classes on both
    await pilot.pause()
    assert incremental.row_count == len(rows)
    for y, (got, want) in enumerate(zip(drawn(incremental), drawn(fresh), strict=True)):
        assert got[0] == want[0], y
        assert got == want, y


async def test_appends_updates_and_drops_draw_what_a_fresh_table_draws() -> None:
    app = TwoTables()
    async with app.run_test(size=(100, 24)) as pilot:
        incremental = app.query_one("#incremental", LogTable)
        fresh = app.query_one("#fresh", LogTable)
        rows = [row(index) for index in range(30)]
        incremental.append_rows(rows)
        await same_as_fresh(pilot, incremental, fresh, rows)  # and the caches hold the old rows

        rows[27], rows[29] = row(27, "ok"), row(29, "error")
        incremental.update_rows([rows[27], rows[29], ("missing", ["x", "y", "z"])])
        rows += [row(index) for index in range(30, 40)]
        incremental.append_rows(rows[30:])
        await same_as_fresh(pilot, incremental, fresh, rows)

        rows[38] = row(38, "ok")
        incremental.update_rows([rows[38]])
        incremental.drop_oldest(7)
        await same_as_fresh(pilot, incremental, fresh, rows[7:])

"""Copying from the decision log: a row as one tab-separated line, a decision in full."""

from __future__ import annotations

import pytest

from tests.ui.frozen import frozen_app
from zeta_console.ui.screens.decision import DecisionScreen
from zeta_console.ui.widgets.decision_log import DecisionTable

pytestmark = pytest.mark.usefixtures("isolated_xdg")


async def test_c_copies_the_row_and_in_the_detail_the_whole_decision() -> None:
    app = frozen_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("ctrl+l")
        table = app.screen.query_one(DecisionTable)
        row = [cell.plain for cell in table.get_row_at(table.cursor_row)]
        await pilot.press("c")
        assert app.clipboard == "\t".join(row) + "\n"
        assert len(row) == len(table.columns) and row[3] in app.clipboard

        await pilot.press("enter")
        assert isinstance(app.screen, DecisionScreen)
        await pilot.press("c")
        summary, candidates = app.clipboard.split("\n\n")
        entry = app.screen.entry
        assert entry.decision is not None
        assert f"why {entry.decision.reason}" in summary
        header, *rows = candidates.rstrip("\n").split("\n")
        assert header.split("\t")[:4] == ["", "endpoint", "model", "score"]
        assert len(rows) == len(entry.decision.candidates)
        assert rows[0].split("\t")[:2] == ["→", entry.decision.chosen]

"""Key paths and controls that need no live router: the frozen console, driven by a pilot."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from tests.ui.conftest import settle
from tests.ui.frozen import SNAPSHOT, FrozenRouter, frozen_app
from zeta_console.settings import Settings, Thresholds
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.screens.charts import ChartsScreen
from zeta_console.ui.screens.controls import ALL_TIERS, ControlsScreen, scope_note, settings_changes
from zeta_console.ui.screens.decision import DecisionScreen
from zeta_console.ui.screens.export import ExportScreen
from zeta_console.ui.screens.fault import FaultScreen
from zeta_console.ui.screens.help import HelpScreen
from zeta_console.ui.widgets.decision_log import DecisionLog, DecisionTable
from zeta_console.ui.widgets.header import ConsoleHeader

pytestmark = pytest.mark.usefixtures("isolated_xdg")


class MemoryStore:
    def __init__(self) -> None:
        self.saved: dict[str, Any] = {}

    def save(self, changes: Mapping[str, Any]) -> Path:
        self.saved.update(changes)
        return Path("overrides.yaml")

    def clear(self) -> Path | None:
        self.saved.clear()
        return None


def reason_at(table: DecisionTable, row: int) -> str:
    return str(table.get_cell_at((row, list(table.columns).index("reason"))))  # type: ignore[arg-type]


def router_of(app: ZetaConsole) -> FrozenRouter:
    assert isinstance(app.session.router, FrozenRouter)
    return app.session.router


@asynccontextmanager
async def controls_open(app: ZetaConsole, size: tuple[int, int] = (160, 48)) -> AsyncIterator[tuple[Pilot[None], ControlsScreen]]:
    """The frozen console with its controls screen opened by F2."""
    async with app.run_test(size=size) as pilot:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, ControlsScreen)
        yield pilot, screen


@pytest.mark.parametrize("key", ["f1", "question_mark"])
async def test_help_opens_from_the_bindings_and_closes(key: str) -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+l", key)  # "?" would be typed into the prompt
        assert isinstance(app.screen, HelpScreen)
        ids = {
            str(row[2]) for row in (app.screen.query_one(DataTable).get_row_at(i) for i in range(app.screen.query_one(DataTable).row_count))
        }
        assert {"app.help", "app.pause", "prompt.send", "log.details", "log.filter"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_from_settings_rebinds_an_action() -> None:
    app = frozen_app()
    app.keymap["app.pause"] = "f9"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        assert app.paused


async def test_pause_stops_rendering_but_keeps_collecting() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DecisionTable)
        rows = table.row_count
        await pilot.press("f5")
        assert app.paused and app.screen.query_one(ConsoleHeader).has_class("-paused")
        router_of(app).set_policy("static")
        app.events.listener(router_of(app).actions[-1])
        app.screen.refresh_view()  # type: ignore[attr-defined]
        assert table.row_count == rows  # not rendered ...
        assert any(entry.action is not None and entry.action.action == "set_policy" for entry in app.events)  # ... but kept
        await pilot.press("f5")
        await settle(pilot, lambda: table.row_count == rows + 1, message="the log catches up on resume")


async def test_a_long_pause_rebuilds_the_log_and_a_short_one_only_appends() -> None:
    from zeta_console.ui.widgets.decision_log import MAX_ROWS

    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DecisionTable)
        log = app.screen.query_one(DecisionLog)
        first = table.coordinate_to_cell_key((0, 0)).row_key
        rows = table.row_count
        await pilot.press("f5")
        router = router_of(app)
        app.events.listener(router.controls.set_threshold("ttft_s", 2))
        app.screen.refresh_view()  # type: ignore[attr-defined]
        await pilot.press("f5")
        await settle(pilot, lambda: table.row_count == rows + 1, message="the held row shown on resume")
        assert table.coordinate_to_cell_key((0, 0)).row_key == first and not log.stale
        await pilot.press("f5")
        for index in range(MAX_ROWS + 1):
            app.events.listener(router.controls.set_threshold("ttft_s", 3 + index))
        app.screen.refresh_view()  # type: ignore[attr-defined]
        assert log.stale
        await pilot.press("f5")
        await settle(pilot, lambda: table.row_count == MAX_ROWS, message="a long pause rebuilds the log")
        assert not log.stale and reason_at(table, MAX_ROWS - 1).endswith(f"→ {float(3 + MAX_ROWS)}")  # as the router records a duration


async def test_enter_on_a_row_explains_the_decision() -> None:
    app = frozen_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("ctrl+l", "enter")
        assert isinstance(app.screen, DecisionScreen)
        candidates = app.screen.query_one("#candidates", DataTable)
        assert candidates.row_count == 3
        assert "excluded" in [str(column.label) for column in candidates.columns.values()]
        await pilot.press("escape")
        assert not isinstance(app.screen, DecisionScreen)


async def test_filter_narrows_the_log() -> None:
    app = frozen_app()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(DecisionTable)
        await pilot.press("ctrl+l", "f", *"outcome:error")
        await settle(pilot, lambda: table.row_count == 1, message="one error row")
        await pilot.press("enter")
        assert table.has_focus


async def test_controls_apply_policy_threshold_pin_and_drain() -> None:
    app = frozen_app()
    router = router_of(app)
    async with controls_open(app) as (pilot, screen):
        screen.query_one("#policy", Select).value = "least_load"
        await settle(pilot, lambda: router.state.policy == "least_load", message="policy applied")

        ttft = screen.query_one("#threshold-ttft_s", Input)
        ttft.value = "-1"
        await pilot.click(ttft)
        await pilot.press("enter")
        assert ttft.has_class("-invalid") and router.state.thresholds.ttft_s == 1.0
        ttft.value = "0.5"
        await pilot.press("enter")
        assert router.state.thresholds.ttft_s == 0.5 and not ttft.has_class("-invalid")
        ttft.value = "250ms"  # typed as the config file takes it
        await pilot.press("enter")
        assert router.state.thresholds.ttft_s == 0.25 and str(screen.query_one("#threshold-ttft_s-note", Static).content) == "applied: 0.25"

        screen.query_one("#pin-complex_reasoning", Select).value = "coder"
        await settle(pilot, lambda: router.state.pins.get("complex_reasoning") == "coder", message="pinned")
        screen.query_one("#pin-code", Select).clear()
        await settle(pilot, lambda: "code" not in router.state.pins, message="unpinned")

        await pilot.click("#drain-0")
        await settle(pilot, lambda: router.state.endpoints[0].drained, message="drained")
        assert str(screen.query_one("#drain-0", Button).label) == "undrain"
        await pilot.click("#eject-0")  # a drained endpoint ejected shows both states; its button now restores
        await settle(pilot, lambda: str(screen.query_one("#eject-0", Button).label) == "restore", message="ejected")
        assert str(screen.query_one("#endpoint-0", Label).content) == "coder@local  drained + ejected"
        assert str(screen.query_one("#eject-2", Button).label) == "restore"  # the reasoner, ejected by its breaker
        await pilot.click("#eject-2")
        await settle(pilot, lambda: router.state.endpoints[2].status == "up", message="restored")
        assert str(screen.query_one("#eject-2", Button).label) == "eject"
        assert [action.action for action in router.actions] == [
            "set_policy",
            "set_threshold",
            "set_threshold",
            "pin",
            "unpin",
            "drain",
            "eject",
            "restore",
        ]
        router.controls.set_policy("static")  # elsewhere (the palette): the open screen follows
        screen.refresh_view()
        assert screen.query_one("#policy", Select).value == "static"


async def test_the_hedging_switch_applies_shows_its_counts_and_follows_the_palette() -> None:
    app = frozen_app()
    router = router_of(app)
    async with controls_open(app) as (pilot, screen):
        switch = screen.query_one("#hedging", Checkbox)
        assert switch.value
        assert str(screen.query_one("#hedging-note", Static).content) == (
            "9 sent, 6 won, 9 cancelled, 1 denied; budget 2.4, ≤ 5% extra"
        )
        switch.value = False
        await settle(pilot, lambda: router.state.hedging is not None and not router.state.hedging.enabled, message="hedging off")
        assert [(a.action, a.old, a.new) for a in router.actions] == [("set_hedging", "on", "off")]
        from zeta_console.ui.commands import ConsoleCommands

        titles = [title for title, _, _ in ConsoleCommands(app.screen).entries()]
        assert "hedging: switch on" in titles and "hedging: switch off" not in titles
        router.controls.set_hedging(True)  # elsewhere (the palette): the open screen follows
        screen.refresh_view()
        assert switch.value and len(router.actions) == 2


async def test_the_tier_preference_is_typed_checked_applied_and_follows_a_revert() -> None:
    app = frozen_app()
    router = router_of(app)
    async with controls_open(app) as (pilot, screen):
        field = screen.query_one("#tier-tolerance", Input)
        note = screen.query_one("#tier-tolerance-note", Static)
        assert field.value == "1"
        field.value = "0.5"
        await pilot.click(field)
        await pilot.press("enter")
        assert field.has_class("-invalid") and router.state.tier_tolerance == 1.0
        assert str(note.content) == "adaptive.tier_tolerance: expected a number >= 1, got 0.5"
        field.value = "4"
        await pilot.press("enter")
        assert router.state.tier_tolerance == 4.0 and not field.has_class("-invalid")
        assert str(note.content) == "applied: 4.0"
        changes = [(a.action, a.target, a.old, a.new) for a in router.actions]
        assert changes == [("set_tier_tolerance", "adaptive.tier_tolerance", "1.0", "4.0")]
        await pilot.press("ctrl+r")  # revert: the field shows the configured value at once
        assert field.value == "1" and router.state.tier_tolerance == 1.0


async def test_thresholds_start_in_the_global_scope() -> None:
    app = frozen_app()
    async with controls_open(app, size=(80, 24)) as (_, screen):
        assert screen.query_one("#threshold-scope", Select).value == ALL_TIERS
        assert str(screen.query_one("#threshold-scope-note", Static).content) == "global: every tier"
        assert screen.query_one("#threshold-ttft_s", Input).value == "1.0"  # the snapshot's global value


def test_scope_note_names_tiers_that_keep_their_own_thresholds() -> None:
    settings = Settings()
    own = dataclasses.replace(settings, models=(dataclasses.replace(settings.models[0], thresholds=Thresholds()), *settings.models[1:]))
    assert scope_note(own, ALL_TIERS) == "global, except coder (own values)"
    assert scope_note(settings, "reasoner") == "reasoner only, over the global"


def test_settings_changes_are_overrides_keys_and_leave_runtime_state_out() -> None:
    snapshot = dataclasses.replace(
        SNAPSHOT,
        differs_from_config=frozenset(
            {"policy", "thresholds.ttft_s", "coder.thresholds.queue", "pins.code", "drained.coder@local", "hedging.enabled"}
            | {"adaptive.tier_tolerance"}
        ),
        tier_tolerance=3.0,
    )
    assert settings_changes(snapshot, lambda tier: Thresholds(queue=9)) == {
        "policy": "adaptive",
        "thresholds.ttft_s": 1.0,
        "models.coder.thresholds.queue": 9,
        "hedging.enabled": True,
        "adaptive.tier_tolerance": 3.0,
    }


async def test_save_writes_changed_settings_and_revert_restores(isolated_xdg: Path) -> None:
    app = frozen_app(simulated=False)
    store = MemoryStore()
    app.session.store = store
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f2", "ctrl+s")
        await app.workers.wait_for_complete()
        assert store.saved == {"thresholds.ttft_s": 1.0}
        router_of(app).set_policy("static")
        await pilot.press("ctrl+r")
        assert router_of(app).state.policy == "adaptive"


async def test_theme_switch_is_live_and_remembered() -> None:
    app = frozen_app()
    store = MemoryStore()
    app.session.store = store
    app.session.frozen = False  # remembering is off in frozen mode
    async with app.run_test(size=(120, 40)) as pilot:
        before = app.theme
        await pilot.press("ctrl+l", "f8")
        assert app.theme != before
        await app.workers.wait_for_complete()
        assert store.saved == {"ui.theme": app.theme}
        app.theme = "zeta-light"
        assert app.current_theme.variables["latency-bad"] == "#C0262D"


async def test_unknown_theme_falls_back_with_a_notification() -> None:
    app = frozen_app()
    assert app._choose_theme("no-such-theme") is not None
    assert app.theme == "zeta-dark"


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
async def test_export_writes_the_decision_log(isolated_xdg: Path, suffix: str) -> None:
    app = frozen_app()
    target = isolated_xdg / "out" / f"log.{suffix}"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f7")
        assert isinstance(app.screen, ExportScreen)
        path_input = app.screen.query_one(Input)
        assert path_input.value.startswith(str(isolated_xdg))  # the default is in the cwd
        path_input.value = str(target)
        await pilot.press("enter")
        await settle(pilot, target.exists, message="export written")
        assert any(str(target) in notification.message for notification in app._notifications)
    text = target.read_text()
    rows = list(csv.DictReader(text.splitlines())) if suffix == "csv" else [json.loads(line) for line in text.splitlines()]
    assert len(rows) == len(app.events) == 25
    assert rows[0]["request_id"] == "r0000" and rows[0]["endpoint"] == "coder@local"
    assert any(row["outcome"] == "error" for row in rows) and any(row["outcome"] == "action" for row in rows)


async def test_palette_is_context_aware() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)):
        from zeta_console.ui.commands import ConsoleCommands

        titles = [title for title, _, _ in ConsoleCommands(app.screen).entries()]
        assert "tier: unpin coder from code" in titles
        assert "tier: pin coder for code" not in titles  # already pinned
        assert "endpoint: restore reasoner@local" in titles and "endpoint: eject reasoner@local" not in titles
        assert "fault: slow down 5× — coder@local" in titles
        assert "view: pause updates" in titles and "view: resume updates" not in titles
        router_of(app).drain("coder@local")
        router_of(app).eject("coder@local")  # both apply: each has its own undo
        titles = [title for title, _, _ in ConsoleCommands(app.screen).entries()]
        assert {"endpoint: undrain coder@local", "endpoint: restore coder@local"} <= set(titles)
        assert "endpoint: eject coder@local" not in titles and "endpoint: drain coder@local" not in titles


async def test_charts_window_changes_with_plus_and_minus() -> None:
    app = frozen_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        assert isinstance(app.screen, ChartsScreen)
        await pilot.press("plus")
        assert app.screen.window_s == 300
        await pilot.press("minus", "minus")
        assert app.screen.window_s == 60
        await pilot.press("escape")
        assert not isinstance(app.screen, ChartsScreen)


async def test_fault_key_only_in_demo_mode() -> None:
    app = frozen_app(simulated=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        assert not isinstance(app.screen, FaultScreen)
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        assert isinstance(app.screen, FaultScreen)
        await pilot.press("enter")
        assert any("slow coder@local" in notification.message for notification in app._notifications)


async def test_header_click_sorts_the_log_by_duration() -> None:
    app = frozen_app()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(DecisionTable)
        column = list(table.columns).index("ttft")  # type: ignore[arg-type]
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:column]) + 1
        await pilot.click(DecisionTable, offset=(x, 0))
        ttfts = [str(table.get_row_at(row)[column]) for row in range(table.row_count)]
        assert ttfts[0] == "150ms" and ttfts[-1] == "" and ttfts.index("430ms") > ttfts.index("220ms")


async def test_log_follows_the_tail_only_at_the_bottom() -> None:
    app = frozen_app()
    router = router_of(app)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(DecisionTable)

        async def one_more_row() -> int:
            app.events.listener(router.controls.set_policy("static" if router.state.policy != "static" else "adaptive"))
            app.screen.refresh_view()  # type: ignore[attr-defined]
            await pilot.pause()
            return table.row_count

        assert table.following
        rows = await one_more_row()
        assert table.cursor_row == rows - 1 and table.scroll_y == table.max_scroll_y
        await pilot.resize_terminal(100, 26)
        await one_more_row()
        assert table.following and table.scroll_y == table.max_scroll_y
        table.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        assert not table.following
        await one_more_row()
        assert table.scroll_y == 0
        await pilot.press("ctrl+l", "end")
        assert table.following


async def test_the_table_is_trimmed_in_one_pass() -> None:
    from zeta_console.ui.widgets.decision_log import MAX_ROWS, TRIM_SLACK

    app = frozen_app()
    async with app.run_test(size=(120, 30)) as pilot:
        router = router_of(app)
        for index in range(MAX_ROWS + TRIM_SLACK):
            app.events.listener(router.controls.set_threshold("ttft_s", 1 + index))
        table = app.screen.query_one(DecisionTable)

        def rendered() -> bool:  # a batch this large waits for the busy interval
            app.screen.refresh_view()  # type: ignore[attr-defined]
            return table.row_count == MAX_ROWS

        await settle(pilot, rendered, message="the big batch rendered and trimmed")
        assert reason_at(table, MAX_ROWS - 1).endswith(f"→ {float(MAX_ROWS + TRIM_SLACK)}")
        assert table.cursor_row == MAX_ROWS - 1

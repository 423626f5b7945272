"""Nothing an operator needs is cut at 80x24, 120x40 or 200x60 (the frozen console, driven as a user would)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Button, Label, Static
from textual.widgets._footer import FooterKey
from textual_plotext import PlotextPlot

from tests.ui.conftest import settle
from tests.ui.frozen import ENDPOINTS, frozen_app
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.widgets.decision_log import REASON_MIN, DecisionLog
from zeta_console.ui.widgets.endpoint_card import EndpointCard
from zeta_console.ui.widgets.footer import ConsoleFooter

SIZES = [(80, 24), (120, 40), (200, 60)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")


def text_of(widget: Static) -> str:
    content = widget.content
    return content if isinstance(content, str) else content.plain


def fits(widget: Static) -> bool:
    return Text(text_of(widget)).cell_len <= widget.content_region.width


@size_ids
async def test_the_log_reason_has_room_and_the_table_never_scrolls_sideways(size: tuple[int, int]) -> None:
    app = frozen_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.query_one(DecisionLog).table
        reason = table.columns["reason"].width  # type: ignore[index]
        assert table.virtual_size.width <= table.scrollable_content_region.width
        if size[0] >= 120:
            assert reason >= REASON_MIN  # 20 at 120 columns while the prompt pane sat beside the log
        if size[0] >= 200:
            assert reason >= 60


@size_ids
async def test_every_card_line_fits_its_card(size: tuple[int, int]) -> None:
    app = frozen_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        cards = list(app.query(EndpointCard))
        assert len(cards) == len(ENDPOINTS)
        for card in cards:
            lines = [line for line in card.query(Static) if line.display and line.parent.display and line.region.width]
            assert lines
            for line in lines:
                assert fits(line), f"{card.endpoint_id} #{line.id}: {text_of(line)!r} in {line.content_region.width} cells"


def screen_lines(app: ZetaConsole, width: int) -> list[str]:
    """What the terminal shows, as text."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


@size_ids
@pytest.mark.parametrize("keys", [(), ("ctrl+l",), ("f3",), ("f2",)], ids=["prompt", "log", "charts", "controls"])
async def test_the_footer_shows_help_and_no_key_cut_in_half(size: tuple[int, int], keys: tuple[str, ...]) -> None:
    app = frozen_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.pause()
        footer = next(screen for screen in reversed(app.screen_stack) if screen.query(ConsoleFooter)).query_one(ConsoleFooter)
        whole = {f"{key.key_display} {key.description}".strip() for key in footer.query_children(FooterKey)}
        line = screen_lines(app, size[0])[-1]
        shown, _, palette = line.partition("▏")
        items = shown.split()
        assert palette.strip() == "^p palette" and items[:2] == ["f1", "Help"]
        assert set(re.split(r"\s{2,}", shown.strip())) <= whole, line  # every key whole


@pytest.mark.parametrize("keys", [(), ("ctrl+l",)], ids=["prompt", "log"])
async def test_at_80_columns_the_footer_keeps_the_keys_to_controls_and_charts_in_view(keys: tuple[str, ...]) -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.pause()
        shown = screen_lines(app, 80)[-1].partition("▏")[0].split()
        assert shown[:6] == ["f1", "Help", "f2", "Controls", "f3", "Charts"], shown


async def test_keys_hidden_at_a_narrow_width_come_back_when_it_widens() -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        footer = app.screen.query_one(ConsoleFooter)
        # the footer hides what does not fit after a refresh, some messages later: wait for that, not one pause
        await settle(pilot, lambda: not all(key.visible for key in footer.query_children(FooterKey)), message="a key hidden")
        await pilot.resize_terminal(240, 24)  # the footer relays out some messages later: wait for that, not two pauses
        await settle(pilot, lambda: all(key.visible for key in footer.query_children(FooterKey)), message="every key back")


async def test_controls_at_80x24_keep_save_and_revert_in_view_and_endpoint_names_whole() -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        screen_region = app.screen.region
        for button_id in ("#save", "#revert"):
            button = app.screen.query_one(button_id, Button)
            assert button.region.height and screen_region.contains_region(button.region)
        body = app.screen.query_one("#controls-body")
        body.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        for index, endpoint in enumerate(ENDPOINTS):
            label = app.screen.query_one(f"#endpoint-{index}", Label)
            assert text_of(label).startswith(endpoint.id) and fits(label)


def plot_text(plot: PlotextPlot) -> str:
    return "\n".join(strip.text for strip in plot.render_lines(plot.region.reset_offset))


async def test_chart_legends_sit_above_the_plots_and_the_histogram_starts_at_zero() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        latency = app.screen.query_one("#latency-plot", PlotextPlot)
        legend = text_of(app.screen.query_one("#latency-legend", Static))
        for endpoint in ENDPOINTS:
            assert endpoint.tier in legend
        assert "coder" not in plot_text(latency)
        hist = app.screen.query_one("#ttft-hist", PlotextPlot)
        assert "qwen2.5-coder:7b" in text_of(app.screen.query_one("#ttft-legend", Static))
        text = plot_text(hist)
        assert "qwen" not in text
        x_axis = text.splitlines()[-1].split()
        assert float(x_axis[0]) == 0.0 and all(float(tick) >= 0 for tick in x_axis)

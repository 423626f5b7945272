"""Snapshots of every screen at 80×24 and 160×48, from the frozen console (fixed data and clock)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from tests.ui.frozen import T0, events, frozen_app
from zeta_console.ui.session import Serving

SIZES = [(80, 24), (160, 48)]

SCREENS: dict[str, tuple[str, ...]] = {
    "main": (),
    "decision": ("ctrl+l", "up", "up", "enter"),
    "controls": ("f2",),
    "charts": ("f3",),
    "help": ("f1",),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare: Callable[..., bool], screen: str, size: tuple[int, int]) -> None:
    keys = SCREENS[screen]
    assert snap_compare(frozen_app(), terminal_size=size, press=keys)


# Every theme the console offers (its own, Textual's built-ins: F8 and the palette's "Change theme"
# list them all) must render: an unresolved theme variable once crashed the app on the first frame.
THEMES = sorted(frozen_app().available_themes)


@pytest.mark.parametrize("theme", THEMES)
def test_theme(snap_compare: Callable[..., bool], theme: str) -> None:
    app = frozen_app()
    app.theme = theme
    assert snap_compare(app, terminal_size=(80, 24))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_serving_badge(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    serving = Serving("127.0.0.1:11435", url="http://127.0.0.1:11435", clock=lambda: T0)
    for event in events():  # five finished requests from serve: clients
        serving.observe(event)
    assert snap_compare(frozen_app(serving=serving), terminal_size=size)


async def converse(pilot: Pilot[None]) -> None:
    """Two turns of one conversation in the frozen console (its canned answers count the context)."""
    await pilot.pause()  # run_before starts before the first frame: let the prompt take the focus
    await pilot.press(*"write a function that reverses a list", "enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.press(*"now make it generic", "enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_conversation(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(), terminal_size=size, run_before=converse)

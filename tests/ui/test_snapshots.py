"""Snapshots of the frozen console (fixed data and clock), one small app each: every screen, and interactions mid-use."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.ui.conftest import settle
from tests.ui.frozen import SNAPSHOT, T0, FrozenRouter, events, frozen_app
from zeta_console.backends.types import QueueSignals
from zeta_console.router.api import EndpointStatus
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.session import Serving

Compare = Callable[..., bool]
SIZES = [(80, 24), (120, 40), (200, 60)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")


@size_ids
@pytest.mark.parametrize("screen", ["main", "controls"])
def test_screen_at_each_size(snap_compare: Compare, screen: str, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(), terminal_size=size, press=("f2",) if screen == "controls" else ())


@pytest.mark.parametrize(
    "keys",
    [("ctrl+l", "up", "up", "enter"), ("f3",), ("f1",)],
    ids=["decision", "charts", "help"],
)
def test_screen(snap_compare: Compare, keys: tuple[str, ...]) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), press=keys)


def test_log_sorted_by_total_descending(snap_compare: Compare) -> None:
    keys = ("ctrl+l", *["s"] * 6, "S")  # time -> client -> task -> endpoint -> outcome -> TTFT -> total, reversed
    assert snap_compare(frozen_app(), terminal_size=(120, 40), press=keys)


def test_log_filter_matching_nothing(snap_compare: Compare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), press=("ctrl+l", "f", *"outcome:timeout"))


def test_palette_open(snap_compare: Compare) -> None:
    async def open_palette(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+p", *"pin")
        await settle(pilot, lambda: "pin" in str(pilot.app.screen.query("CommandList").first().get_option_at_index(0).prompt))

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=open_palette)


def test_controls_with_a_rejected_threshold(snap_compare: Compare) -> None:
    async def enter_bad_value(pilot: Pilot[None]) -> None:
        await pilot.press("f2")
        threshold = pilot.app.screen.query_one("#threshold-ttft_s", Input)
        threshold.value = "fast"
        threshold.focus()
        await pilot.press("enter")
        await settle(pilot, lambda: threshold.has_class("-invalid"))

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=enter_bad_value)


def test_banner_when_no_ollama_answers(snap_compare: Compare, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    app = frozen_app(simulated=False)
    router = app.session.router
    assert isinstance(router, FrozenRouter)
    down = tuple(
        dataclasses.replace(endpoint, status=EndpointStatus.DOWN, status_reason="connection refused") for endpoint in SNAPSHOT.endpoints
    )
    router.state = dataclasses.replace(SNAPSHOT, endpoints=down)
    assert snap_compare(app, terminal_size=(120, 40))


def openai_compatible_cards_app() -> ZetaConsole:
    """llama.cpp with one slot taken and two requests deferred, vLLM (no slot count, KV use), a
    server whose gauges could not be read, and one with none (LM Studio: the card says OpenAI-compatible)."""
    app = frozen_app(simulated=False)
    router = app.session.router
    assert isinstance(router, FrozenRouter)
    coder, embedder, reasoner = SNAPSHOT.endpoints
    real = (
        dataclasses.replace(coder, id="coder@gpu1", host="gpu1", server="llama.cpp", resident=True, expires_at=None, size_vram_bytes=None,
                            server_signals=QueueSignals(server="llama.cpp", running=1, waiting=2, slots=1)),
        dataclasses.replace(coder, id="coder@gpu2", host="gpu2", server="vLLM",
                            server_signals=QueueSignals(server="vLLM", running=5, waiting=0, kv_cache_usage=0.62)),
        dataclasses.replace(reasoner, host="gpu3", server="SGLang", server_signals=QueueSignals(server="SGLang")),
        dataclasses.replace(embedder, host="studio", server="OpenAI-compatible", resident=None),
    )  # fmt: skip
    router.state = dataclasses.replace(SNAPSHOT, endpoints=real)
    return app


def test_cards_of_openai_compatible_servers_show_their_kind_and_their_own_queue(snap_compare: Compare) -> None:
    assert snap_compare(openai_compatible_cards_app(), terminal_size=(160, 40))


@pytest.mark.parametrize("size", [(100, 30), (72, 24)], ids=lambda size: f"{size[0]}x{size[1]}")
def test_compact_cards_show_the_servers_own_queue_when_it_fits(snap_compare: Compare, size: tuple[int, int]) -> None:
    """One line per card: "srv 1/1 busy · 2 waiting" after the console's own figures at 100 columns;
    at 72 it does not fit and is left out whole, never cut."""
    assert snap_compare(openai_compatible_cards_app(), terminal_size=size)


# Every theme the console offers (its own, Textual's built-ins: F8 and the palette's "Change theme"
# list them all) must render: an unresolved theme variable once crashed the app on the first frame.
THEMES = sorted(frozen_app().available_themes)


@pytest.mark.parametrize("theme", THEMES)
def test_theme(snap_compare: Compare, theme: str) -> None:
    app = frozen_app()
    app.theme = theme
    assert snap_compare(app, terminal_size=(80, 24))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda size: f"{size[0]}x{size[1]}")
def test_serving_badge(snap_compare: Compare, size: tuple[int, int]) -> None:
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


@size_ids
def test_conversation(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(), terminal_size=size, run_before=converse)


def test_an_answer_streaming(snap_compare: Compare) -> None:
    app = frozen_app()
    router = app.session.router
    assert isinstance(router, FrozenRouter)
    router.resume = asyncio.Event()  # never set: the answer stays mid-stream

    async def ask(pilot: Pilot[None]) -> None:
        await pilot.pause()
        await pilot.press(*"write a function that reverses a list", "enter")
        await settle(pilot, router.streaming.is_set, message="the answer to stop mid-stream")

    assert snap_compare(app, terminal_size=(120, 40), run_before=ask)

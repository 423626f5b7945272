"""The console against the real router and the emulated fleet (demo mode, time compressed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

import httpx
import ollama
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static

from tests.policy_fixtures import registered_policy
from tests.ui.conftest import settle
from zeta_console.config import load_settings, overrides_path
from zeta_console.router.api import EndpointStatus, OperatorAction, RouterEvent
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import open_listener
from zeta_console.settings import LoadGenerator, Settings
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.eventlog import LogEntry
from zeta_console.ui.launch import ConsoleOptions, open_session
from zeta_console.ui.prompting import CANCELLED_MARK
from zeta_console.ui.screens.controls import ControlsScreen
from zeta_console.ui.screens.fault import FaultScreen
from zeta_console.ui.widgets.header import ConsoleHeader
from zeta_console.ui.widgets.prompt import PromptInput, Transcript, Turn

pytestmark = pytest.mark.usefixtures("isolated_xdg")

FAST = 100.0


@asynccontextmanager
async def live_console(
    time_scale: float = FAST, rate: float = 0.0, listen: str | None = None
) -> AsyncIterator[tuple[ZetaConsole, Pilot[None]]]:
    async with AsyncExitStack() as stack:
        settings = replace(Settings(), load_generator=LoadGenerator(rate_per_s=rate))
        listener = None if listen is None else open_listener(listen, token=None)
        session = await open_session(stack, settings, ConsoleOptions(demo=True, time_scale=time_scale, listener=listener))
        app = ZetaConsole(session)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(
                pilot,
                lambda: all(e.status is EndpointStatus.UP for e in session.router.snapshot().endpoints),
                message="fleet up",
            )
            yield app, pilot


def prompt_entries(app: ZetaConsole) -> list[LogEntry]:
    return [entry for entry in app.events if entry.client == "prompt"]


def last_turn(app: ZetaConsole) -> Turn:
    return app.screen.query_one(Transcript).turns[-1]


def answer_text(app: ZetaConsole) -> str:
    return last_turn(app).answer_text


async def ask(app: ZetaConsole, pilot: Pilot[None], text: str) -> LogEntry:
    """Send `text` from the prompt pane; return its finished log entry."""
    before = len(prompt_entries(app))
    app.screen.query_one(PromptInput).text = text
    await pilot.press("enter")
    await settle(
        pilot,
        lambda: len(prompt_entries(app)) > before and prompt_entries(app)[-1].record is not None,
        message="the prompt's decision in the log",
    )
    await app.workers.wait_for_complete()
    return prompt_entries(app)[-1]


async def test_prompt_is_answered_and_logged() -> None:
    async with live_console() as (app, pilot):
        entry = await ask(app, pilot, "write a python function to reverse a list")
        assert entry.outcome == "ok" and entry.task == "code" and entry.endpoint == "coder@local"
        assert answer_text(app).strip()
        route = last_turn(app).route_text
        assert "coder@local" in route and entry.reason in route
        embedded = await ask(app, pilot, "/embed a sentence to embed")
        assert embedded.endpoint == "embedder@local" and "dimensional embedding" in answer_text(app)
        prompt = app.screen.query_one(PromptInput)
        await pilot.press("up")
        assert prompt.text == "/embed a sentence to embed"  # history


# Escape must land while the answer streams. Unslowed, the reasoner streams its whole answer in ~3 s of wall time after
# its first thinking token, which a loaded machine's key handling once missed (no cancel mark: the answer had ended).
# So it is warmed, then slowed (over the emulator's control API) until its answer lasts minutes: only Escape ends it
# within the test. A token every ~0.4 s stays well inside the idle time-out (5 s here); hedging is off, as a hedge to
# the coder would answer in its place.
STREAM_FOR_MINUTES = 100.0


async def test_escape_cancels_and_keeps_the_partial_answer() -> None:
    async with live_console(time_scale=6.0) as (app, pilot):
        reasoner = next(model.model for model in app.session.settings.models if model.tier == "reasoner")
        async with httpx.AsyncClient(base_url=app.session.settings.hosts[0].url) as emulator:
            loaded = await emulator.post("/api/generate", json={"model": reasoner})  # no prompt: load only
            assert loaded.json()["done_reason"] == "load"
            slowed = await emulator.post("/sim/fault", json={"model": reasoner, "slow_factor": STREAM_FOR_MINUTES})
            assert slowed.status_code == 200
        app.session.router.controls.set_hedging(False)
        app.session.router.controls.pin("reasoner", "complex_reasoning")  # the demo's warm coder may win it otherwise
        app.screen.query_one(PromptInput).text = "/reason prove that there are infinitely many primes, step by step"
        await pilot.press("enter")
        await settle(pilot, lambda: bool(app.screen.query_one(Transcript).turns), message="the turn")
        turn = last_turn(app)
        await settle(pilot, lambda: bool(turn.thinking_text), timeout=20, message="first (thinking) tokens")
        await pilot.press("escape")
        await settle(pilot, lambda: answer_text(app).endswith(CANCELLED_MARK), message="the cancel mark")
        assert turn.thinking_text  # the partial output is kept
        await settle(pilot, lambda: prompt_entries(app)[-1].outcome == "cancelled", message="cancelled in the log")


async def test_pin_from_the_controls_is_obeyed() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("f2")
        assert isinstance(app.screen, ControlsScreen)
        app.screen.query_one("#pin-simple", Select).value = "reasoner"
        await settle(pilot, lambda: app.session.router.snapshot().pins.get("simple") == "reasoner", message="pin")
        await pilot.press("escape")
        entry = await ask(app, pilot, "/simple hello, how are you")
        assert entry.endpoint == "reasoner@local" and entry.decision is not None
        assert entry.decision.pins.get("simple") == "reasoner"
        assert any(e.action is not None and e.action.action == "pin" for e in app.events)
        assert "pins" in str(app.screen.query_one("#summary", Static).content)


async def test_hedging_switch_from_the_controls_reaches_the_router_and_the_log() -> None:
    async with live_console() as (app, pilot):
        router = app.session.router
        assert router.snapshot().hedging is not None and router.snapshot().hedging.enabled  # type: ignore[union-attr]  # checked first
        await pilot.press("f2")
        app.screen.query_one("#hedging", Checkbox).value = False
        await settle(pilot, lambda: not router.snapshot().hedging.enabled, message="hedging off")  # type: ignore[union-attr]  # as above
        await settle(
            pilot,
            lambda: any(e.action is not None and (e.action.action, e.action.new) == ("set_hedging", "off") for e in app.events),
            message="the operator action in the log",
        )
        assert "hedging.enabled" in router.snapshot().differs_from_config


async def test_threshold_change_reroutes() -> None:
    async with live_console() as (app, pilot):
        router = app.session.router
        router.controls.set_policy("threshold")
        first = await ask(app, pilot, "/reason compare these two designs step by step")
        assert first.endpoint == "reasoner@local"
        await pilot.press("f2")
        ttft = app.screen.query_one("#threshold-ttft_s", Input)
        ttft.value = "0.0001"
        ttft.focus()
        await pilot.press("enter")
        assert router.snapshot().thresholds.ttft_s == 0.0001
        await pilot.press("escape")
        second = await ask(app, pilot, "/reason compare these two designs step by step")
        assert second.endpoint == "coder@local" and "TTFT" in second.reason
        assert "thresholds.ttft_s" in router.snapshot().differs_from_config
        assert "changed*" in str(app.screen.query_one("#summary", Static).content)


def router_of(app: ZetaConsole) -> ZetaDynamicRouter:
    assert isinstance(app.session.router, ZetaDynamicRouter)
    return app.session.router


async def choose_scope(app: ZetaConsole, pilot: Pilot[None], scope: str) -> ControlsScreen:
    """Open the controls and choose the threshold scope; return once its values are shown."""
    if not isinstance(app.screen, ControlsScreen):
        await pilot.press("f2")
    screen = app.screen
    assert isinstance(screen, ControlsScreen)
    screen.query_one("#threshold-scope", Select).value = scope
    note = screen.query_one("#threshold-scope-note", Static)
    await settle(pilot, lambda: str(note.content).startswith(f"{scope} only"), message=f"scope {scope}")
    return screen


async def enter_threshold(pilot: Pilot[None], screen: ControlsScreen, name: str, text: str) -> Input:
    field = screen.query_one(f"#threshold-{name}", Input)
    field.value = text
    field.focus()
    await pilot.press("enter")
    return field


async def test_tier_threshold_from_the_controls_changes_only_that_tier() -> None:
    async with live_console() as (app, pilot):
        router = router_of(app)
        before = {model.tier: router.controls.thresholds_for(model.tier) for model in app.session.settings.models}
        screen = await choose_scope(app, pilot, "reasoner")
        await enter_threshold(pilot, screen, "ttft_s", "0.5")
        assert router.controls.thresholds_for("reasoner") == replace(before["reasoner"], ttft_s=0.5)
        assert {tier: router.controls.thresholds_for(tier) for tier in before if tier != "reasoner"} == {
            tier: before[tier] for tier in before if tier != "reasoner"
        }
        assert router.snapshot().thresholds == app.session.settings.thresholds  # the global ones too
        changed = screen.query_one("#controls-changed", Static)
        await settle(pilot, lambda: "reasoner.thresholds.ttft_s" in str(changed.content), message="marked as changed")  # the 5 Hz refresh
        await settle(
            pilot,
            lambda: any(
                e.action is not None and e.action.target == "reasoner.thresholds.ttft_s" and e.action.new == "0.5" for e in app.events
            ),
            message="logged as an operator action",
        )
        await choose_scope(app, pilot, "coder")
        assert screen.query_one("#threshold-ttft_s", Input).value == str(before["coder"].ttft_s)
        await choose_scope(app, pilot, "reasoner")
        assert screen.query_one("#threshold-ttft_s", Input).value == "0.5"


async def test_a_bad_tier_threshold_is_refused_and_changes_nothing() -> None:
    async with live_console() as (app, pilot):
        router = router_of(app)
        before = router.controls.thresholds_for("coder")
        actions: list[OperatorAction] = []

        def collect(event: RouterEvent) -> None:
            if isinstance(event, OperatorAction):
                actions.append(event)

        unsubscribe = router.subscribe(collect)
        screen = await choose_scope(app, pilot, "coder")
        for name, text, problem in [
            ("queue", "2.5", "thresholds.queue: expected a positive integer, got 2.5"),
            ("error_rate", "1.5", "thresholds.error_rate: expected a number between 0 and 1, got 1.5"),
        ]:
            field = await enter_threshold(pilot, screen, name, text)
            assert field.has_class("-invalid") and problem in str(screen.query_one(f"#threshold-{name}-note", Static).content)
        unsubscribe()
        assert router.controls.thresholds_for("coder") == before and actions == []
        assert not any(".thresholds." in name for name in router.snapshot().differs_from_config)


async def test_tier_thresholds_saved_from_the_controls_load_after_a_restart() -> None:
    async with AsyncExitStack() as stack:
        session = await open_session(stack, Settings(), ConsoleOptions())  # not the demo: it saves nothing
        app = ZetaConsole(session)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = await choose_scope(app, pilot, "coder")
            await enter_threshold(pilot, screen, "queue", "9")
            await pilot.press("ctrl+s")
            await app.workers.wait_for_complete()
    assert "coder" in overrides_path().read_text()
    restarted = ZetaDynamicRouter(load_settings())
    assert restarted.controls.thresholds_for("coder") == replace(Settings().thresholds, queue=9)
    assert restarted.controls.thresholds_for("reasoner") == Settings().thresholds
    assert restarted.controls.differs_from_config() == frozenset()


async def test_drained_endpoint_gets_no_new_work() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("f2")
        await pilot.click("#drain-0")  # coder@local
        await settle(pilot, lambda: app.session.router.snapshot().endpoints[0].drained, message="drained")
        await pilot.press("escape")
        entry = await ask(app, pilot, "/code fix this bug in my javascript code")
        assert entry.endpoint == "reasoner@local"


async def test_injected_fault_is_routed_around() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("f6")
        screen = app.screen
        assert isinstance(screen, FaultScreen)
        options = screen.query_one(OptionList)
        options.highlighted = options.get_option_index("coder@local|fail")
        await pilot.press("enter")
        entry = await ask(app, pilot, "/simple what is the capital of France")
        assert entry.endpoint == "reasoner@local" and entry.outcome == "ok"
        assert entry.decision is not None and "coder@local" in entry.decision.fallbacks


async def test_load_generator_rate_from_the_controls() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("f2")
        rate = app.screen.query_one("#loadgen-rate", Input)
        rate.value = "40"
        rate.focus()
        await pilot.press("enter")
        assert app.session.loadgen is not None and app.session.loadgen.rate_per_s == 40
        await pilot.press("escape")
        await settle(pilot, lambda: sum(e.client == "loadgen" for e in app.events) >= 5, message="load arrives")
        assert app.screen.query_one(ConsoleHeader).fleet == "SIMULATED"


async def test_a_registered_policy_is_offered_in_the_controls_and_the_palette() -> None:
    from zeta_console.ui.commands import ConsoleCommands

    with registered_policy("nearest"):
        async with live_console() as (app, pilot):
            entries = {title: callback for title, callback, _ in ConsoleCommands(app.screen).entries()}
            assert "policy: switch to nearest" in entries
            await pilot.press("f2")
            assert isinstance(app.screen, ControlsScreen)
            select = app.screen.query_one("#policy", Select)
            choices = select.query_one(OptionList)  # the drop-down's list
            offered = [str(choices.get_option_at_index(index).prompt) for index in range(choices.option_count)]
            assert offered == ["static", "threshold", "least_load", "adaptive", "nearest"]
            select.value = "nearest"
            await settle(pilot, lambda: app.session.router.snapshot().policy == "nearest", message="the registered policy installed")


async def test_load_generator_presets_in_the_palette() -> None:
    from zeta_console.ui.commands import ConsoleCommands

    async with live_console() as (app, pilot):
        assert app.session.loadgen is not None
        entries = {title: callback for title, callback, _ in ConsoleCommands(app.screen).entries()}
        assert f"load: {app.session.loadgen.rate_per_s:g} requests/s" not in entries  # the current rate
        entries["load: 5 requests/s"]()
        assert app.session.loadgen.rate_per_s == 5
        await settle(pilot, lambda: any(n.message == "Load generator: 5 requests/s" for n in app._notifications), message="told")
        await settle(pilot, lambda: any(e.client == "loadgen" for e in app.events), message="load arrives")


async def test_the_demo_saves_nothing_not_even_the_theme() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("ctrl+l", "f8")
        assert app.theme != "zeta-dark"
        await pilot.press("f2", "ctrl+s")
        await app.workers.wait_for_complete()
        assert any("not saved" in notification.message for notification in app._notifications)
    assert not overrides_path().exists()


async def test_ejecting_the_only_embedder_is_refused_with_the_reason() -> None:
    async with live_console() as (app, pilot):
        await pilot.press("f2")
        assert str(app.screen.query_one("#endpoint-1", Label).content) == "embedder@local  up"
        await pilot.click("#eject-1")  # embedder@local
        await settle(pilot, lambda: any("last endpoint" in note.message for note in app._notifications), message="refusal shown")
        notification = next(note for note in app._notifications if "last endpoint" in note.message)
        assert notification.title == "Eject" and notification.severity == "error"
        assert "embedder@local is the last endpoint that can serve embedding requests" in notification.message
        assert app.session.router.snapshot().endpoints[1].states == (EndpointStatus.UP,)
        assert str(app.screen.query_one("#eject-1", Button).label) == "eject"


async def test_the_header_shows_where_the_console_serves_and_its_request_rate() -> None:
    async with live_console(listen="127.0.0.1:0") as (app, pilot):
        serving = app.session.serving
        assert serving is not None
        await settle(pilot, lambda: serving.url is not None, message="the endpoint listening")
        assert serving.url is not None
        address = serving.url.removeprefix("http://")
        badge = app.screen.query_one("#badge-serving", Static)
        await settle(pilot, lambda: str(badge.content) == f"SERVING {address} · 0.0 req/s", message="the badge")
        assert badge.display and badge.region.width == len(str(badge.content)) + 2  # laid out to its text, padding included
        answer = await ollama.AsyncClient(host=serving.url).generate(model="zeta:simple", prompt="hello")
        assert answer.done
        await settle(pilot, lambda: str(badge.content) != f"SERVING {address} · 0.0 req/s", message="the rate to count it")
        assert str(badge.content).startswith(f"SERVING {address} · ") and serving.requests_per_s() > 0

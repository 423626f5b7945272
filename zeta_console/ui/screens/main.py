"""The main screen: header, endpoint cards, decision log and prompt pane, refreshed on a timer."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import Screen
from textual.widgets import Static

from zeta_console.router.api import EndpointStatus, RouterSnapshot
from zeta_console.settings import BUILT_IN_SOURCE
from zeta_console.ui.commands import WRITE_CONFIG_COMMAND, all_missing
from zeta_console.ui.widgets.decision_log import DecisionLog, DecisionTable
from zeta_console.ui.widgets.endpoint_card import EndpointCard
from zeta_console.ui.widgets.footer import ConsoleFooter
from zeta_console.ui.widgets.header import ConsoleHeader
from zeta_console.ui.widgets.prompt import PromptInput, PromptPane
from zeta_console.ui.widgets.text import set_text

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole


def unreachable_banner(snapshot: RouterSnapshot, looked_at: tuple[str, ...], source: str) -> str | None:
    """The advice shown while no endpoint is reachable; None once any endpoint answers."""
    if not snapshot.endpoints or any(endpoint.status is not EndpointStatus.DOWN for endpoint in snapshot.endpoints):
        return None
    where = ", ".join(looked_at) or ", ".join(sorted({endpoint.url for endpoint in snapshot.endpoints}))
    env = os.environ.get("OLLAMA_HOST")
    env_note = f"OLLAMA_HOST={env}" if env else "OLLAMA_HOST is not set"
    return (
        f"No Ollama answering at {where} ({env_note}; hosts from {source}). "
        "Start Ollama (`ollama serve`), fix OLLAMA_HOST or the hosts in the config, "
        "or try `zeta-console --demo`. Retrying by itself."
    )


def missing_banner(snapshot: RouterSnapshot, source: str) -> str | None:
    """The advice shown while no configured model is installed on its host; None otherwise."""
    if not all_missing(snapshot):
        return None
    has = "; ".join(f"{host} has {', '.join(models) or 'no models'}" for host, models in snapshot.installed.items())
    configured = ", ".join(dict.fromkeys(endpoint.model for endpoint in snapshot.endpoints))
    if source == BUILT_IN_SOURCE:
        return (
            f"No config file, and none of the default models ({configured}) is installed: {has}. "
            f"Write a config from them: ctrl+p, “{WRITE_CONFIG_COMMAND}” (or run `zeta-console init`)."
        )
    return (
        f"None of the models in {source} ({configured}) is installed: {has}. "
        f"`ollama pull` them, edit the file, or run `zeta-console init --force {source}`."
    )


class MainScreen(Screen[None]):
    # below 110 columns the cards fold to one line; below 140 the prompt goes under the log, which needs the width
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-medium"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("escape", "cancel_prompt", "Cancel", id="prompt.cancel"),
        Binding("ctrl+l", "focus_log", "Log", id="main.focus_log"),
        Binding("ctrl+o", "focus_prompt", "Prompt", id="main.focus_prompt"),
    ]
    HELP = "Cards show each endpoint's pulse; the log shows every decision. Enter on a row explains it."

    app: ZetaConsole

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(id="header")
        yield Static(id="banner")
        yield Grid(id="cards")
        with Horizontal(id="body"):
            yield DecisionLog(self.app.session.tz, id="log")
            yield PromptPane(id="prompt")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one(ConsoleHeader).fleet = self.app.session.fleet_badge
        self.query_one(PromptInput).focus()
        self.refresh_view()
        if not self.app.session.frozen:
            self.set_interval(1 / self.app.session.settings.ui.refresh_hz, self.refresh_view, name="refresh")

    def refresh_view(self) -> None:
        """Collect always; render only when visible and not paused."""
        app = self.app
        snapshot = app.session.router.snapshot()
        app.series.record(snapshot)
        batch = app.events.drain()
        log = self.query_one(DecisionLog)
        if app.paused or not self.is_current:
            log.hold(batch)
            return
        if log.stale:
            log.rebuild(app.events)
        else:
            log.apply(batch)
        self.show_snapshot(snapshot)

    def show_snapshot(self, snapshot: RouterSnapshot) -> None:
        session = self.app.session
        now = session.clock()
        self.query_one(ConsoleHeader).show(snapshot, now, session.serving)
        banner = None if session.simulated else (
            unreachable_banner(snapshot, session.looked_at, session.settings.source) or missing_banner(snapshot, session.settings.source)
        )
        banner_widget = self.query_one("#banner", Static)
        banner_widget.display = banner is not None
        if banner is not None:
            set_text(banner_widget, banner, layout=True)
        cards = self.query_one("#cards", Grid)
        existing = {card.endpoint_id: card for card in cards.query_children(EndpointCard)}
        warm_up = session.warm_up
        loading = {e.id: warm_up is not None and warm_up.loading(e.id) for e in snapshot.endpoints}
        if list(existing) != [endpoint.id for endpoint in snapshot.endpoints]:
            cards.remove_children()
            cards.mount_all(EndpointCard(endpoint, snapshot.thresholds, now, loading[endpoint.id]) for endpoint in snapshot.endpoints)
            return
        for endpoint in snapshot.endpoints:
            existing[endpoint.id].show(endpoint, snapshot.thresholds, now, loading[endpoint.id])

    def action_focus_log(self) -> None:
        self.query_one(DecisionTable).focus()

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_cancel_prompt(self) -> None:
        self.app.cancel_prompt()

    @on(DecisionLog.FilterChanged)
    @on(DecisionLog.ColumnsChanged)
    def _refilter(self) -> None:
        self.query_one(DecisionLog).rebuild(self.app.events)

    @on(DecisionTable.Opened)
    def _open_decision(self, event: DecisionTable.Opened) -> None:
        self.app.open_decision(event.key)

    @on(PromptInput.Submitted)
    def _send_prompt(self, event: PromptInput.Submitted) -> None:
        self.app.send_prompt(event.text)

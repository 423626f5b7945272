"""The Zeta console application: themes, keymap, global actions and background work."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from textual import events, on, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.theme import Theme
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from zeta_console.router.api import OperatorAction
from zeta_console.ui import export
from zeta_console.ui.commands import ConsoleCommands
from zeta_console.ui.eventlog import EventLog
from zeta_console.ui.history import SeriesStore
from zeta_console.ui.prompting import Conversation, run_prompt
from zeta_console.ui.screens.charts import ChartsScreen
from zeta_console.ui.screens.controls import ControlsScreen, settings_changes
from zeta_console.ui.screens.decision import DecisionScreen
from zeta_console.ui.screens.export import ExportScreen
from zeta_console.ui.screens.fault import FaultScreen
from zeta_console.ui.screens.help import HelpScreen
from zeta_console.ui.screens.main import MainScreen
from zeta_console.ui.session import ConsoleSession, FaultInjector, FaultKind
from zeta_console.ui.themes import load_builtin_themes, theme_variable_defaults
from zeta_console.ui.widgets.header import ConsoleHeader
from zeta_console.ui.widgets.prompt import PromptInput, Transcript, split_new_conversation
from zeta_console.wording import counted

FALLBACK_THEME = "zeta-dark"


@runtime_checkable
class LiveView(Protocol):
    """A screen that renders from router snapshots (main, controls)."""

    def refresh_view(self) -> None: ...


class ZetaConsole(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "Zeta console"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", id="app.help"),
        Binding("f2", "controls", "Controls", id="app.controls"),
        Binding("f3", "charts", "Charts", id="app.charts"),
        # priority: the prompt (a TextArea) has its own f5-f7, and it has the focus most of the time
        Binding("f5", "toggle_pause", "Pause", id="app.pause", priority=True),
        Binding("f6", "inject_fault", "Fault", id="app.fault", priority=True),
        Binding("f7", "export", "Export", id="app.export", priority=True),
        Binding("f8", "next_theme", "Theme", id="app.theme", show=False),
        Binding("ctrl+n", "new_conversation", "New chat", id="app.new_conversation", show=False),
        Binding("ctrl+q", "quit", "Quit", id="app.quit"),
    ]

    paused: reactive[bool] = reactive(False, bindings=True, init=False)

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        self.events = EventLog()
        self.series = SeriesStore()
        self.keymap = dict(session.settings.ui.keymap)
        self._unsubscribe = session.router.subscribe(self.events.listener)
        self._prompt_worker: Worker[None] | None = None
        self.conversation = Conversation()
        themes, self._theme_problems = load_builtin_themes()
        for theme in themes:
            self.register_theme(theme)
        self._theme_problem = self._choose_theme(session.settings.ui.theme)

    def _choose_theme(self, name: str) -> str | None:
        if name in self.available_themes:
            self.theme = name
            return None
        self.theme = FALLBACK_THEME
        return f"Unknown theme {name!r} (ui.theme in {self.session.settings.source}); using {FALLBACK_THEME}."

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        for problem in [*self._theme_problems, *filter(None, [self._theme_problem])]:
            self.notify(problem, severity="warning", title="Theme")
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        if self.session.start is not None:
            self.run_background(self.session.start(), "start the router")

    def on_unmount(self) -> None:
        self._unsubscribe()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Frozen (snapshots): no blinking cursor on any screen. At mount the screens are not composed yet."""
        if self.session.frozen and isinstance(event.widget, TextArea | Input):
            event.widget.cursor_blink = False

    def run_background(self, work: Coroutine[Any, Any, Any], name: str, group: str = "default") -> Worker[Any]:
        """Every router call goes through here: errors become notifications, never crashes."""
        return self.run_worker(work, name=name, group=group, exit_on_error=False)

    @on(Worker.StateChanged)
    def _report_worker_error(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.notify(f"{event.worker.name}: {event.worker.error}", severity="error", title="Background task failed", timeout=8)

    def _remember_theme(self, theme: Theme) -> None:
        store = self.session.store
        if store is not None and not self.session.frozen:
            self.run_background(self._save({"ui.theme": theme.name}, quiet=True), "remember the theme")

    async def _save(self, changes: dict[str, Any], quiet: bool = False) -> Path | None:
        store = self.session.store
        if store is None:
            return None
        path = store.save(changes)
        if not quiet:
            self.notify(f"Saved {', '.join(sorted(changes))} to {path}", title="Settings")
        return path

    # --- commands (bound keys, the palette and the controls screen all land here) ---------

    def command(self, action: Callable[[], object], what: str) -> bool:
        """Run one router control; invalid input is shown to the operator, not raised."""
        try:
            action()
        except (ValueError, KeyError) as error:
            self.notify(str(error), severity="error", title=what)
            return False
        self.call_later(self.refresh_now)
        return True

    def refresh_now(self) -> None:
        if isinstance(self.screen, LiveView):
            self.screen.refresh_view()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_controls(self) -> None:
        if not isinstance(self.screen, ControlsScreen):
            self.push_screen(ControlsScreen())

    def action_charts(self) -> None:
        if not isinstance(self.screen, ChartsScreen):
            self.push_screen(ChartsScreen())

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def watch_paused(self, paused: bool) -> None:
        self.query_one(ConsoleHeader).paused = paused
        if not paused:
            self.call_after_refresh(self.refresh_now)  # the badge first, then the log catches up

    def action_inject_fault(self) -> None:
        if self.session.faults is not None and not isinstance(self.screen, FaultScreen):
            self.push_screen(FaultScreen(self.session.faults))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "inject_fault":
            return self.session.faults is not None
        return True

    def inject_fault(self, endpoint: str, fault: FaultKind) -> None:
        faults = self.session.faults
        if faults is not None:
            self.run_background(self._inject(faults, endpoint, fault), "inject a fault")

    async def _inject(self, faults: FaultInjector, endpoint: str, fault: FaultKind) -> None:
        done = await faults.inject(endpoint, fault)
        # shown in the decision log too, so the operator sees the reroute follow it
        self.events.listener(OperatorAction(self.session.clock(), f"fault:{fault.value}", endpoint, "", done, "demo"))
        self.notify(done, title="Fault injected" if fault is not FaultKind.CLEAR else "Faults cleared")

    def set_load_rate(self, rate_per_s: float) -> None:
        if self.session.loadgen is not None:
            self.session.loadgen.set_rate(rate_per_s)
            self.notify(f"Load generator: {rate_per_s:g} requests/s", title="Load")

    def action_export(self) -> None:
        self.push_screen(ExportScreen(export.default_path("csv", self.session.clock())))

    def export_log(self, path: Path) -> None:
        try:
            count = export.write_log(self.events, path)
        except OSError as error:
            self.notify(f"Could not write {path}: {error.strerror or error}", severity="error", title="Export")
            return
        self.notify(f"{counted(count, 'row')} written to {path}", title="Decision log exported")

    def action_next_theme(self) -> None:
        names = sorted(self.available_themes)
        self.theme = names[(names.index(self.theme) + 1) % len(names)] if self.theme in names else FALLBACK_THEME

    def open_decision(self, key: str) -> None:
        entry = self.events.get(key)
        if entry is not None:
            self.push_screen(DecisionScreen(entry, self.session.tz))

    # --- the prompt ------------------------------------------------------------------------

    def send_prompt(self, text: str) -> None:
        fresh, text = split_new_conversation(text)
        if fresh:
            self.action_new_conversation()
        if not text:
            return
        worker = self._prompt_worker
        if worker is not None and worker.is_running and not worker.is_cancelled:
            prompt = self.screen_stack[0].query_one(PromptInput)
            if not prompt.text:
                prompt.text = text  # kept for when the answer is done, not lost
            self.notify("A request is still running: Esc cancels it.", severity="warning")
            return
        work = run_prompt(self.session.router, self.conversation, text, self._transcript())
        self._prompt_worker = self.run_background(work, "prompt", group="prompt")

    def cancel_prompt(self) -> None:
        if self._prompt_worker is not None and self._prompt_worker.is_running:
            self._prompt_worker.cancel()

    def action_new_conversation(self) -> None:
        """Forget the context (a running answer is cancelled); the prompt history stays."""
        self.cancel_prompt()
        self.conversation = Conversation()
        self._transcript().clear_turns()

    def _transcript(self) -> Transcript:
        return self.screen_stack[0].query_one(Transcript)  # the main screen's, whatever is on top of it

    # --- settings --------------------------------------------------------------------------

    @work(exit_on_error=False, group="settings")
    async def save_settings(self) -> None:
        if self.session.store is None:  # the demo has none
            self.notify("Demo mode: settings are not saved.", severity="warning", title="Settings")
            return
        router = self.session.router
        changes = settings_changes(router.snapshot(), router.controls.thresholds_for)
        if not changes:
            self.notify("Nothing to save: the settings match the config.", title="Settings")
            return
        await self._save(changes)

    def write_config_from_hosts(self) -> None:
        """The console's `zeta-console init`: a config from the models the hosts serve, where the console looks for one."""
        self.run_background(self._write_config_from_hosts(), "write config")

    async def _write_config_from_hosts(self) -> None:
        from zeta_console.init_config import default_path, propose, write_config

        path = default_path()
        text, tiers = await propose([host.url for host in self.session.settings.hosts])
        write_config(path, text, force=False)
        summary = ", ".join(f"{tier.tier} {tier.model}" for tier in tiers)
        self.notify(f"Wrote {path} ({summary}). Restart the console to use it.", title="Config", timeout=20)

    def revert_settings(self) -> None:
        if self.command(self.session.router.controls.revert_to_config, "Revert"):
            if self.session.store is not None:
                cleared = self.session.store.clear()
                where = f" and removed {cleared}" if cleared else ""
                self.notify(f"Back to the config{where}.", title="Settings")
            else:
                self.notify("Back to the config.", title="Settings")

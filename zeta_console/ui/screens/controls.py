"""Operator controls: policy, hedging switch, tier preference, thresholds (global or per tier), pins, drain/eject/restore,
load rate, save/revert."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from zeta_console.router.api import EndpointSnapshot, EndpointStatus, HedgingSnapshot, RouterSnapshot
from zeta_console.settings import Settings, Task, Thresholds

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole

ALL_TIERS = "*"
TIER_THRESHOLD = ".thresholds."  # "coder.thresholds.ttft_s" in RouterSnapshot.differs_from_config
TIER_TOLERANCE = "adaptive.tier_tolerance"
TIER_TOLERANCE_HELP = "keep the preferred tier up to this × the best wait; 1 = off"

THRESHOLD_HELP: dict[str, str] = {
    "ttft_s": "time to first token, seconds",
    "latency_s": "total latency, seconds",
    "queue": "requests waiting per endpoint",
    "error_rate": "rolling error rate, 0..1",
}


def scope_choices(settings: Settings) -> list[tuple[str, str]]:
    return [("all tiers", ALL_TIERS), *((model.tier, model.tier) for model in settings.models)]


def scope_note(settings: Settings, scope: str) -> str:
    if scope != ALL_TIERS:
        return f"{scope} only, over the global"
    own = [model.tier for model in settings.models if model.thresholds is not None]
    return f"global, except {', '.join(own)} (own values)" if own else "global: every tier"


def settings_changes(snapshot: RouterSnapshot, thresholds_for: Callable[[str], Thresholds]) -> dict[str, Any]:
    """The operator's changes that are settings, as overrides-file keys; pins, drains and ejections are runtime-only."""
    changes: dict[str, Any] = {}
    for name in sorted(snapshot.differs_from_config):
        tier, tiered, threshold = name.partition(TIER_THRESHOLD)
        if name == "policy":
            changes[name] = snapshot.policy
        elif name == "hedging.enabled" and snapshot.hedging is not None:
            changes[name] = snapshot.hedging.enabled
        elif name == TIER_TOLERANCE:
            changes[name] = snapshot.tier_tolerance
        elif name.startswith("thresholds."):
            changes[name] = getattr(snapshot.thresholds, name.removeprefix("thresholds."))
        elif tiered:
            changes[f"models.{tier}.thresholds.{threshold}"] = getattr(thresholds_for(tier), threshold)
    return changes


def hedging_note(hedging: HedgingSnapshot | None) -> str:
    if hedging is None:
        return "not available"
    return (
        f"{hedging.sent} sent, {hedging.won} won, {hedging.cancelled} cancelled, {hedging.denied} denied; "
        f"budget {hedging.budget:.1f}, ≤ {hedging.ratio:.0%} extra"
    )


def show_outcome(field: Input, note: Static, message: str, *, error: bool) -> None:
    """A typed value's outcome beside it: applied, or why not (the field marked invalid)."""
    note.update(message)
    note.set_class(error, "-error")
    field.set_class(error, "-invalid")


def pin_choices(settings: Settings, task: Task) -> list[tuple[str, str]]:
    need = "embedding" if task is Task.EMBEDDING else "completion"
    return [(model.tier, model.tier) for model in settings.models if need in model.capabilities]


def endpoint_label(endpoint: EndpointSnapshot) -> str:
    return f"{endpoint.id}  {' + '.join(endpoint.states)}"


class ControlsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="controls.close"),
        Binding("ctrl+s", "save", "Save to overrides", id="controls.save"),
        Binding("ctrl+r", "revert", "Revert to config", id="controls.revert"),
    ]
    HELP = "Thresholds apply on Enter to the chosen scope (all tiers or one). Every change is logged as an operator action."

    app: ZetaConsole

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, str | bool | None] = {}

    def compose(self) -> ComposeResult:
        session = self.app.session
        snapshot = session.router.snapshot()
        with Vertical(id="controls-box") as box:
            box.border_title = "Controls"
            with VerticalScroll(id="controls-body"):
                yield Static(id="controls-changed")
                with Horizontal(classes="control-row"):
                    yield Label("policy", classes="control-label")
                    yield Select(
                        [(policy, policy) for policy in snapshot.policies],
                        value=snapshot.policy,
                        allow_blank=False,
                        compact=True,
                        id="policy",
                    )
                with Horizontal(classes="control-row"):
                    yield Label("hedging", classes="control-label")
                    yield Checkbox(
                        "on",
                        value=snapshot.hedging is not None and snapshot.hedging.enabled,
                        disabled=snapshot.hedging is None,
                        compact=True,
                        id="hedging",
                    )
                    yield Static(hedging_note(snapshot.hedging), id="hedging-note", classes="note")
                with Horizontal(classes="control-row"):
                    yield Label("tier preference", classes="control-label")
                    yield Input(f"{snapshot.tier_tolerance:g}", id="tier-tolerance", compact=True)
                    yield Static(TIER_TOLERANCE_HELP, id="tier-tolerance-note", classes="note")
                yield Static("Thresholds (Enter applies)", classes="section")
                with Horizontal(classes="control-row"):
                    yield Label("scope", classes="control-label")
                    yield Select(scope_choices(session.settings), value=ALL_TIERS, allow_blank=False, compact=True, id="threshold-scope")
                    yield Static(scope_note(session.settings, ALL_TIERS), id="threshold-scope-note", classes="note")
                for name, meaning in THRESHOLD_HELP.items():
                    with Horizontal(classes="control-row"):
                        yield Label(name, classes="control-label")
                        yield Input(str(getattr(snapshot.thresholds, name)), id=f"threshold-{name}", classes="threshold", compact=True)
                        yield Static(meaning, id=f"threshold-{name}-note", classes="note")
                yield Static("Pins (force a tier for a task)", classes="section")
                for task in Task:
                    with Horizontal(classes="control-row"):
                        yield Label(task.value, classes="control-label")
                        yield Select(
                            pin_choices(session.settings, task),
                            value=snapshot.pins.get(task.value, Select.NULL),
                            prompt="route normally",
                            compact=True,
                            id=f"pin-{task.value}",
                            classes="pin",
                        )
                yield Static("Endpoints", classes="section")
                for index, endpoint in enumerate(snapshot.endpoints):
                    with Horizontal(classes="control-row endpoint-row"):
                        yield Label(endpoint_label(endpoint), id=f"endpoint-{index}", classes="endpoint-label")
                        yield Button("drain", id=f"drain-{index}", compact=True)
                        yield Button("eject", id=f"eject-{index}", compact=True)
                if session.loadgen is not None:
                    yield Static("Load generator (demo traffic)", classes="section")
                    with Horizontal(classes="control-row"):
                        yield Label("rate /s", classes="control-label")
                        yield Input(f"{session.loadgen.rate_per_s:g}", id="loadgen-rate", compact=True)
                        yield Static("Poisson arrivals of mixed tasks; 0 stops it", classes="note")
            with Horizontal(id="controls-buttons"):  # below the scrolling part: always in view
                yield Button("Save to overrides (ctrl+s)", id="save", variant="primary", compact=True)
                yield Button("Revert to config (ctrl+r)", id="revert", compact=True)

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one("#policy", Select).focus()
        if not self.app.session.frozen:
            self.set_interval(1 / self.app.session.settings.ui.refresh_hz, self.refresh_view, name="controls-refresh")

    def refresh_view(self) -> None:
        snapshot = self.app.session.router.snapshot()
        changed = ", ".join(sorted(snapshot.differs_from_config)) or "nothing"
        self.query_one("#controls-changed", Static).update(f"Changed from the config: {changed}")
        for index, endpoint in enumerate(snapshot.endpoints):
            self.query_one(f"#endpoint-{index}", Label).update(endpoint_label(endpoint))
            self.query_one(f"#drain-{index}", Button).label = "undrain" if endpoint.drained else "drain"
            eject = self.query_one(f"#eject-{index}", Button)
            eject.label, eject.variant = ("restore", "success") if EndpointStatus.EJECTED in endpoint.states else ("eject", "error")
        self.query_one("#hedging-note", Static).update(hedging_note(snapshot.hedging))
        self._sync_selects(snapshot)

    def _sync_selects(self, snapshot: RouterSnapshot) -> None:
        """Show changes made elsewhere (palette, revert): only values the router changed since the
        last look are pushed, so an edit still in flight is never overwritten."""
        hedging = snapshot.hedging is not None and snapshot.hedging.enabled
        seen = {
            "policy": snapshot.policy,
            "hedging": hedging,
            "tier-tolerance": f"{snapshot.tier_tolerance:g}",
            **{f"pin-{task.value}": snapshot.pins.get(task.value) for task in Task},
        }
        for widget_id, value in seen.items():
            if self._seen.get(widget_id, value) != value:
                if widget_id == "hedging":
                    self.query_one("#hedging", Checkbox).value = hedging
                elif widget_id == "tier-tolerance":
                    self._show_tier_tolerance(f"{snapshot.tier_tolerance:g}")
                else:
                    self.query_one(f"#{widget_id}", Select).value = Select.NULL if value is None else value
        self._seen = seen

    @on(Select.Changed, "#policy")
    def _policy(self, event: Select.Changed) -> None:
        router = self.app.session.router
        if event.value != router.snapshot().policy and isinstance(event.value, str):
            policy = event.value
            self.app.command(lambda: router.controls.set_policy(policy, source="console"), "Policy")

    @on(Checkbox.Changed, "#hedging")
    def _hedging(self, event: Checkbox.Changed) -> None:
        router = self.app.session.router
        hedging = router.snapshot().hedging
        if hedging is not None and event.value != hedging.enabled:
            enabled = event.value
            self.app.command(lambda: router.controls.set_hedging(enabled, source="console"), "Hedging")

    @on(Input.Submitted, "#tier-tolerance")
    def _tier_tolerance(self, event: Input.Submitted) -> None:
        note = self.query_one("#tier-tolerance-note", Static)
        try:  # checked by the configuration file's rule for adaptive.tier_tolerance
            action = self.app.session.router.controls.set_tier_tolerance(event.value, source="console")
        except ValueError as error:
            show_outcome(event.input, note, str(error), error=True)
            return
        show_outcome(event.input, note, f"applied: {action.new}", error=False)
        self._seen["tier-tolerance"] = f"{float(action.new):g}"  # seen: a later change elsewhere (a revert) is pushed

    def _show_tier_tolerance(self, value: str) -> None:
        self.query_one("#tier-tolerance", Input).remove_class("-invalid").value = value
        self.query_one("#tier-tolerance-note", Static).remove_class("-error").update(TIER_TOLERANCE_HELP)

    @on(Select.Changed, ".pin")
    def _pin(self, event: Select.Changed) -> None:
        router = self.app.session.router
        task = (event.select.id or "").removeprefix("pin-")
        current = router.snapshot().pins.get(task)
        tier = event.value
        if tier == Select.NULL and current is not None:
            self.app.command(lambda: router.controls.unpin(task, source="console"), "Unpin")
        elif isinstance(tier, str) and tier != current:
            self.app.command(lambda: router.controls.pin(tier, task, source="console"), "Pin")

    @property
    def threshold_scope(self) -> str:
        value = self.query_one("#threshold-scope", Select).value
        return value if isinstance(value, str) else ALL_TIERS

    def _show_thresholds(self) -> None:
        """Put the chosen scope's effective values in the inputs and clear any error shown."""
        scope = self.threshold_scope
        router = self.app.session.router
        thresholds = router.snapshot().thresholds if scope == ALL_TIERS else router.controls.thresholds_for(scope)
        self.query_one("#threshold-scope-note", Static).update(scope_note(self.app.session.settings, scope))
        for name, meaning in THRESHOLD_HELP.items():
            self.query_one(f"#threshold-{name}", Input).remove_class("-invalid").value = str(getattr(thresholds, name))
            self.query_one(f"#threshold-{name}-note", Static).remove_class("-error").update(meaning)

    @on(Select.Changed, "#threshold-scope")
    def _scope(self) -> None:
        self._show_thresholds()

    @on(Input.Submitted, ".threshold")
    def _threshold(self, event: Input.Submitted) -> None:
        name = (event.input.id or "").removeprefix("threshold-")
        note = self.query_one(f"#threshold-{name}-note", Static)
        router = self.app.session.router
        scope = self.threshold_scope
        try:  # the router checks the typed text by the rules of the config file's thresholds
            action = router.controls.set_threshold(name, event.value, tier=None if scope == ALL_TIERS else scope, source="console")
        except ValueError as error:
            show_outcome(event.input, note, str(error), error=True)
            return
        show_outcome(event.input, note, f"applied: {action.new}", error=False)
        self.app.call_later(self.app.refresh_now)

    @on(Input.Submitted, "#loadgen-rate")
    def _rate(self, event: Input.Submitted) -> None:
        try:
            rate = float(event.value)
            if rate < 0:
                raise ValueError
        except ValueError:
            self.app.notify(f"Load rate: {event.value!r} is not a rate ≥ 0", severity="error")
            return
        self.app.set_load_rate(rate)

    @on(Button.Pressed, ".endpoint-row Button")
    def _endpoint(self, event: Button.Pressed) -> None:
        verb, _, index = (event.button.id or "").partition("-")
        router = self.app.session.router
        endpoint = router.snapshot().endpoints[int(index)]
        if verb == "drain":
            action, title = (router.controls.undrain, "Undrain") if endpoint.drained else (router.controls.drain, "Drain")
        else:
            action, title = (
                (router.controls.restore, "Restore") if EndpointStatus.EJECTED in endpoint.states else (router.controls.eject, "Eject")
            )
        self.app.command(lambda: action(endpoint.id, source="console"), title)

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        self.app.save_settings()

    @on(Button.Pressed, "#revert")
    def action_revert(self) -> None:
        self.app.revert_settings()
        self._show_thresholds()
        self.refresh_view()  # the other controls follow the reverted values now, not at the next tick

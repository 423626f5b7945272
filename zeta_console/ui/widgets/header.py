"""The console's top line: policy, pins, traffic, badges and how old the data is."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from zeta_console.router.api import ALL_TASKS, RouterSnapshot
from zeta_console.ui import format as fmt
from zeta_console.ui.widgets.text import set_text

STALE_AFTER_S = 3.0


def pins_text(pins: dict[str, str] | None) -> str:
    if not pins:
        return "none"
    return ", ".join(f"{'all' if task == ALL_TASKS else task}→{tier}" for task, tier in sorted(pins.items()))


class ConsoleHeader(Horizontal):
    """Summary line; `-stale` is set when the snapshot is older than STALE_AFTER_S."""

    paused: reactive[bool] = reactive(False, toggle_class="-paused")
    simulated: reactive[bool] = reactive(False, toggle_class="-simulated")

    def compose(self) -> ComposeResult:
        yield Static("ZETA", id="title")
        yield Static(id="summary")
        yield Static("SIMULATED", id="badge-simulated", classes="badge")
        yield Static("PAUSED", id="badge-paused", classes="badge")
        yield Static(id="age")

    def show(self, snapshot: RouterSnapshot, now: float) -> None:
        changed = snapshot.differs_from_config
        policy = Content.from_markup("policy [b]$policy[/b]", policy=snapshot.policy.value)
        if "policy" in changed:
            policy += Content.styled("*", "$warning")
        pins = Content.from_markup(" · pins $pins", pins=pins_text(dict(snapshot.pins)))
        if any(name.startswith("pins") for name in changed):
            pins += Content.styled("*", "$warning")
        traffic = Content.from_markup(
            " · $rps req/s · err $err", rps=f"{snapshot.requests_per_s:.1f}", err=fmt.percent(snapshot.error_rate)
        )
        summary = policy + pins + traffic
        if changed:
            summary += Content.styled(f" · {len(changed)} changed*", "$warning")
        set_text(self.query_one("#summary", Static), summary)
        age = max(0.0, now - snapshot.taken_at)
        self.set_class(age > STALE_AFTER_S, "-stale")
        label = f"data {age:.1f}s" + (" STALE" if age > STALE_AFTER_S else "")
        set_text(self.query_one("#age", Static), label)

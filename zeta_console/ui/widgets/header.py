"""The console's top line: policy, pins, traffic, badges and how old the data is."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from zeta_console.router.api import ALL_TASKS, RouterSnapshot
from zeta_console.ui import format as fmt
from zeta_console.ui.session import Serving
from zeta_console.ui.widgets.text import set_text

STALE_AFTER_S = 3.0
COMPACT_BELOW = 100  # columns: below this the summary drops its labels and puts traffic first
SHOWN_SHED_RATE = 0.0005  # the shed rate is shown once it reads 0.1 % (as printed); none shed, nothing said


def pins_text(pins: dict[str, str] | None) -> str:
    if not pins:
        return "none"
    return ", ".join(f"{'all' if task == ALL_TASKS else task}→{tier}" for task, tier in sorted(pins.items()))


def summary_text(snapshot: RouterSnapshot, compact: bool) -> Content:
    """`policy adaptive · pins code→coder* · 7.4 req/s · err 2.1% · 2 changed*` (`err 2.1% · shed 3.0%` while
    requests are shed); compact, what changes most comes first, so a cut at the right edge loses the pins, not
    the traffic: `adaptive · 7.4/s · err 2.1% · 2 changed* · pins code→coder*`."""
    changed = snapshot.differs_from_config
    policy = Content.from_markup("[b]$policy[/b]" if compact else "policy [b]$policy[/b]", policy=snapshot.policy)
    if "policy" in changed:
        policy += Content.styled("*", "$warning")
    pins = Content(f"pins {pins_text(dict(snapshot.pins))}")
    if any(name.startswith("pins") for name in changed):
        pins += Content.styled("*", "$warning")
    rate = f"{snapshot.requests_per_s:.1f}" + ("/s" if compact else " req/s")
    shed = f" · shed {fmt.percent(snapshot.shed_rate)}" if snapshot.shed_rate >= SHOWN_SHED_RATE else ""
    traffic = Content(f"{rate} · err {fmt.percent(snapshot.error_rate)}{shed}")
    marks = [Content.styled(f"{len(changed)} changed*", "$warning")] if changed else []
    parts = [policy, traffic, *marks, pins] if compact else [policy, pins, traffic, *marks]
    return Content(" · ").join(parts)


def serving_text(serving: Serving | None, compact: bool) -> str:
    """`SERVING 127.0.0.1:11435 · 2.0 req/s` (compact: `⇄ 127.0.0.1:11435 2.0/s`); "" until the endpoint listens."""
    if serving is None or serving.url is None:
        return ""
    address = serving.url.removeprefix("http://").removeprefix("https://")
    rate = serving.requests_per_s()
    return f"⇄ {address} {rate:.1f}/s" if compact else f"SERVING {address} · {rate:.1f} req/s"


class ConsoleHeader(Horizontal):
    """Summary line; `-stale` is set when the snapshot is older than STALE_AFTER_S."""

    paused: reactive[bool] = reactive(False, toggle_class="-paused")
    fleet: reactive[str] = reactive("")  # a demo fleet's badge: SIMULATED, REAL · tiny models

    def watch_fleet(self, badge: str) -> None:
        self.set_class(bool(badge), "-demo-fleet")
        set_text(self.query_one("#badge-fleet", Static), badge, layout=True)

    def compose(self) -> ComposeResult:
        yield Static("ZETA", id="title")
        yield Static(id="summary")
        yield Static(id="badge-serving", classes="badge")
        yield Static(id="badge-fleet", classes="badge")
        yield Static("PAUSED", id="badge-paused", classes="badge")
        yield Static(id="age")

    _shown: tuple[RouterSnapshot, float, Serving | None] | None = None

    def on_resize(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, snapshot: RouterSnapshot, now: float, serving: Serving | None = None) -> None:
        self._shown = (snapshot, now, serving)
        compact = self.size.width < COMPACT_BELOW
        set_text(self.query_one("#summary", Static), summary_text(snapshot, compact))
        badge = serving_text(serving, compact)
        self.set_class(bool(badge), "-serving")
        badge_widget = self.query_one("#badge-serving", Static)
        set_text(badge_widget, badge, layout=len(badge) != len(str(badge_widget.content)))  # its width is its text's
        age = max(0.0, now - snapshot.taken_at)
        self.set_class(age > STALE_AFTER_S, "-stale")
        label = f"data {age:.1f}s" + (" STALE" if age > STALE_AFTER_S else "")
        set_text(self.query_one("#age", Static), label)

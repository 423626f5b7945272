"""Latency over time per endpoint with threshold lines, a TTFT histogram, and predicted against
actual TTFT per endpoint (textual-plotext)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from zeta_console.ui.eventlog import LogEntry
from zeta_console.ui.history import HISTORY_S
from zeta_console.ui.widgets.footer import ConsoleFooter

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole

WINDOWS_S = (30, 60, 120, 300, 600, HISTORY_S)
# Series colours, in turn; the legend above each plot names them (plotext's own legend covers the plot).
SERIES_COLORS = ("primary", "accent", "secondary", "success", "warning", "foreground")
HISTOGRAM_BINS = 20
THRESHOLD_ROOM = 2.0  # a threshold above this multiple of the data would squash the data into a line


def threshold_in_view(threshold: float, values: list[float]) -> bool:
    """Draw the threshold line only where it leaves the data readable; the title always names it."""
    return not values or threshold <= THRESHOLD_ROOM * max(values)


def legend(labels: list[str]) -> Content:
    """`■ coder (qwen2.5-coder:7b)  ■ embedder …`, each marker in its series' colour; wraps rather than cuts."""
    entries = [
        Content.assemble(("■ ", f"${SERIES_COLORS[index % len(SERIES_COLORS)]}"), label) for index, label in enumerate(labels)
    ]
    return Content("  ").join(entries) if entries else Content("no data in this window yet")


def calibration_points(entries: Iterable[LogEntry], since: float) -> dict[str, list[tuple[float, float]]]:
    """endpoint -> (predicted, actual) TTFT of its finished requests since `since`, both from the decision."""
    points: dict[str, list[tuple[float, float]]] = {}
    for entry in entries:
        decision, record = entry.decision, entry.record
        if decision is None or record is None or decision.prediction is None or entry.at < since:
            continue
        actual = record.actual_ttft_s
        if actual is not None and decision.chosen is not None:
            points.setdefault(decision.chosen, []).append((decision.prediction.ttft_s, actual))
    return points


def calibration_label(endpoint: str, points: list[tuple[float, float]]) -> str:
    """`coder@local: median error 12% (n 40)`: median of |predicted - actual| / actual."""
    errors = [abs(predicted - actual) / actual for predicted, actual in points if actual > 0]
    median = f"{statistics.median(errors):.0%}" if errors else "—"
    return f"{endpoint}: median error {median} (n {len(points)})"


DEFAULT_WINDOW_S = 120


class ChartsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Back", id="charts.close"),
        Binding("plus,equals_sign", "window(1)", "Wider window", id="charts.wider"),
        Binding("minus", "window(-1)", "Narrower window", id="charts.narrower"),
    ]
    HELP = (
        "p95 latency and TTFT per endpoint over the window; dashed lines are the thresholds. Predicted against actual TTFT:"
        " one dot per request, on the diagonal when the prediction was right."
    )

    app: ZetaConsole

    def __init__(self) -> None:
        super().__init__()
        self.window_s = DEFAULT_WINDOW_S

    def compose(self) -> ComposeResult:
        yield Static(id="charts-title")
        with Vertical(id="charts"):
            yield Static(id="latency-legend", classes="legend")
            yield PlotextPlot(id="latency-plot")
            with Horizontal(id="charts-bottom"):
                with Vertical():
                    yield Static(id="ttft-legend", classes="legend")
                    yield PlotextPlot(id="ttft-hist")
                with Vertical():
                    yield Static(id="calibration-legend", classes="legend")
                    yield PlotextPlot(id="calibration-plot")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.refresh_view()
        if not self.app.session.frozen:
            self.set_interval(1.0, self.refresh_view, name="charts-refresh")

    def action_window(self, step: int) -> None:
        index = WINDOWS_S.index(self.window_s) + step
        self.window_s = WINDOWS_S[max(0, min(len(WINDOWS_S) - 1, index))]
        self.refresh_view()

    def _rgb(self, variable: str) -> tuple[int, int, int]:
        return Color.parse(self.app.theme_variables[variable]).rgb

    def _series_rgb(self, index: int) -> tuple[int, int, int]:
        return self._rgb(SERIES_COLORS[index % len(SERIES_COLORS)])

    def refresh_view(self) -> None:
        app = self.app
        now = app.session.clock()
        since = now - self.window_s
        thresholds = app.session.router.snapshot().thresholds
        self.query_one("#charts-title", Static).update(
            f"Window {self.window_s}s (+/- to change) · thresholds: TTFT {thresholds.ttft_s:g}s, latency {thresholds.latency_s:g}s"
        )
        latency = self.query_one("#latency-plot", PlotextPlot)
        plt = latency.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("p95 latency (s) over time")
        plt.xlabel("seconds ago")
        plotted: list[float] = []
        labels: list[str] = []
        for endpoint in app.series.endpoints():
            samples = [sample for sample in app.series.window(endpoint, since) if sample.latency_p95_s is not None]
            if samples:
                values = [sample.latency_p95_s for sample in samples if sample.latency_p95_s is not None]
                plt.plot([sample.at - now for sample in samples], values, color=self._series_rgb(len(labels)))
                labels.append(app.series.label(endpoint))
                plotted += values
        self.query_one("#latency-legend", Static).update(legend(labels))
        plt.xlim(-self.window_s, 0)
        if threshold_in_view(thresholds.latency_s, plotted):
            plt.hline(thresholds.latency_s, self._rgb("latency-bad"))
        else:
            plt.title(f"p95 latency (s) over time · threshold {thresholds.latency_s:g}s is above the chart")
        latency.refresh()

        hist = self.query_one("#ttft-hist", PlotextPlot)
        plt = hist.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("TTFT histogram (s)")
        by_model: dict[str, list[float]] = {}
        for entry in app.events:
            if entry.ttft_s is not None and entry.at >= since:
                by_model.setdefault(entry.model or entry.endpoint, []).append(entry.ttft_s)
        for index, (_, values) in enumerate(sorted(by_model.items())):
            plt.hist(values, bins=HISTOGRAM_BINS, color=self._series_rgb(index))
        self.query_one("#ttft-legend", Static).update(legend(sorted(by_model)))
        ttfts = [value for values in by_model.values() for value in values]
        if threshold_in_view(thresholds.ttft_s, ttfts):
            plt.vline(thresholds.ttft_s, self._rgb("latency-bad"))
        else:
            plt.title(f"TTFT histogram (s) · threshold {thresholds.ttft_s:g}s is right of the chart")
        if ttfts:  # no TTFT is below 0: cut the first bar's overhang at the left, keep the last bar whole
            plt.xlim(0, max(ttfts) * (1 + 1 / HISTOGRAM_BINS) or 1.0)
            plt.ylim(0, None)
        hist.refresh()
        self._refresh_calibration(since)

    def _refresh_calibration(self, since: float) -> None:
        plot = self.query_one("#calibration-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("TTFT (s): actual by predicted")
        plt.xlabel("predicted")
        points = calibration_points(self.app.events, since)
        labels = []
        largest = 0.0
        for index, (endpoint, pairs) in enumerate(sorted(points.items())):
            plt.scatter([p for p, _ in pairs], [a for _, a in pairs], color=self._series_rgb(index), marker="dot")
            labels.append(calibration_label(endpoint, pairs))
            largest = max(largest, *(max(p, a) for p, a in pairs))
        if largest > 0:  # the diagonal: where every dot would sit if every prediction were right
            plt.plot([0, largest], [0, largest], color=self._rgb("foreground-muted"))
            plt.xlim(0, largest)
            plt.ylim(0, largest)
        self.query_one("#calibration-legend", Static).update(legend(labels))
        plot.refresh()

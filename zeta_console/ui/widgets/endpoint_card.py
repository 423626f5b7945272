"""One card per endpoint: status, TTFT/latency sparklines, load gauge, errors, the server's own queue
(where it reports one) and residency; the border names the host and the kind of server."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar, Sparkline, Static

from zeta_console.router.api import EndpointSnapshot, EndpointStatus
from zeta_console.settings import Thresholds
from zeta_console.ui import format as fmt
from zeta_console.ui.widgets.text import set_text


def latency_style(value: float | None, limit: float) -> str:
    if value is None:
        return "$foreground-muted"
    if value > limit:
        return "$latency-bad"
    if value > 0.7 * limit:
        return "$latency-warn"
    return "$latency-good"


def quantiles(p50: float | None, p95: float | None, limit: float) -> Content:
    return Content.assemble(
        "p50 ",
        (fmt.seconds(p50), latency_style(p50, limit)),
        " p95 ",
        (fmt.seconds(p95), latency_style(p95, limit)),
    )


def state_label(state: EndpointStatus, endpoint: EndpointSnapshot) -> Content:
    label = state.value.upper()
    if state is EndpointStatus.EJECTED and endpoint.ejected_for_s is not None:
        label += f" {fmt.duration(endpoint.ejected_for_s)}"
    return Content.styled(label, f"bold $status-{state.value}")


def status_text(endpoint: EndpointSnapshot) -> Content:
    """Every state that applies (DRAINED + EJECTED), then why; beside UP or DEGRADED, a recent cold load, which the
    latency figures leave out."""
    text = Content(" + ").join(state_label(state, endpoint) for state in endpoint.states)
    if endpoint.status_reason:
        text += Content(f" {endpoint.status_reason}")
    if endpoint.last_cold_load_s is not None and endpoint.status in (EndpointStatus.UP, EndpointStatus.DEGRADED):
        text += Content.styled(f" · cold load {fmt.seconds(endpoint.last_cold_load_s)}", "$foreground-muted")
    return text


def where_loaded(size: int | None, vram: int | None) -> str:
    """/api/ps's size and size_vram: all on the GPU, all on the CPU, or split between them."""
    if size is None or vram is None:
        return f"loaded {fmt.size(size)}"
    if vram >= size:
        return f"{fmt.size(size)} in VRAM"
    if vram == 0:
        return f"{fmt.size(size)} on CPU"
    return f"{fmt.size(size)}, {fmt.size(vram)} in VRAM"


def residency_text(endpoint: EndpointSnapshot, now: float) -> str:
    if endpoint.status is EndpointStatus.MISSING:
        return "not installed"
    if endpoint.resident is None:
        return "residency unknown"
    if not endpoint.resident:
        return "not loaded" + (f" · load ~{fmt.seconds(endpoint.load_s)}" if endpoint.load_s else "")
    parts = [where_loaded(endpoint.size_bytes, endpoint.size_vram_bytes)]
    if endpoint.expires_at is not None:
        parts.append(f"expires {fmt.duration(endpoint.expires_at - now)}")
    return " · ".join(parts)


def load_text(endpoint: EndpointSnapshot) -> str:
    return f"{endpoint.in_flight}/{endpoint.slots} q{endpoint.queued}"


def server_queue_text(endpoint: EndpointSnapshot) -> str:
    """The server's own figures, as it last reported them: "srv 1/1 busy · 2 waiting" (llama.cpp),
    "srv 5 running · 5 waiting · KV 62%" (vLLM: no slot count); "" when it reports none (Ollama)."""
    signals = endpoint.server_signals
    if signals is None:
        return ""
    if signals.running is None:
        return "srv load unknown"
    parts = [f"srv {signals.running}/{signals.slots} busy" if signals.slots else f"srv {signals.running} running"]
    if signals.waiting is not None:
        parts.append(f"{signals.waiting} waiting")
    if signals.kv_cache_usage is not None:
        parts.append(f"KV {signals.kv_cache_usage:.0%}")
    return " · ".join(parts)


DEMO_LOADING = "loading (demo warm-up)"


def last_line(endpoint: EndpointSnapshot, now: float, demo_loading: bool = False) -> str:
    """The server's own queue, when it has one, before the residency (or that the demo is loading the model:
    Ollama lists a model it is loading in /api/ps as it lists a loaded one)."""
    residency = DEMO_LOADING if demo_loading else residency_text(endpoint, now)
    return " · ".join(part for part in (server_queue_text(endpoint), residency) if part)


def compact_line(endpoint: EndpointSnapshot, thresholds: Thresholds, errors: Content) -> Content:
    return Content.assemble(
        Content.styled("● ", f"$status-{endpoint.status.value}"),
        (f"{endpoint.tier:<9}", "bold"),
        Content.styled(f"{'+'.join(endpoint.states):<8} ", f"$status-{endpoint.status.value}"),
        "TTFT ",
        (fmt.seconds(endpoint.ttft_p95_s), latency_style(endpoint.ttft_p95_s, thresholds.ttft_s)),
        " tot ",
        (fmt.seconds(endpoint.latency_p95_s), latency_style(endpoint.latency_p95_s, thresholds.latency_s)),
        f" {load_text(endpoint)} ",
        errors,
    )


def with_room_for(line: Content, extra: str, width: int) -> Content:
    """`line` then ` · extra` when all of it fits in `width` cells: never a cut-off figure."""
    if not extra or line.cell_length + 3 + len(extra) > width:
        return line
    return line + Content.styled(f" · {extra}", "$foreground-muted")


def subtitle(endpoint: EndpointSnapshot) -> str:
    return f"{endpoint.host} · {endpoint.server}" if endpoint.server else endpoint.host


class EndpointCard(Vertical):
    """Renders one `EndpointSnapshot`; `-compact` (set by the screen) folds it to one line."""

    def __init__(self, endpoint: EndpointSnapshot, thresholds: Thresholds, now: float, demo_loading: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint_id = endpoint.id
        self.border_title = f"{endpoint.tier} · {endpoint.model}"
        self._subtitle = self.border_subtitle = subtitle(endpoint)
        self._shown = (endpoint, thresholds, now, demo_loading)

    def on_mount(self) -> None:
        self.show(*self._shown)  # filled before the first frame

    def on_resize(self) -> None:
        self.show(*self._shown)  # the compact line's server figures come and go with the width

    def compose(self) -> ComposeResult:
        yield Static(id="compact-line")
        yield Static(id="status")
        with Horizontal(classes="row"):
            yield Label("TTFT ", classes="row-label")
            yield Sparkline(id="ttft-spark")
            yield Static(id="ttft-stats", classes="row-stats")
        with Horizontal(classes="row"):
            yield Label("total", classes="row-label")
            yield Sparkline(id="latency-spark")
            yield Static(id="latency-stats", classes="row-stats")
        with Horizontal(classes="row"):
            yield Label("load ", classes="row-label")
            yield ProgressBar(id="gauge", total=1, show_eta=False, show_percentage=False)
            yield Static(id="load", classes="row-stats")
        yield Static(id="throughput")
        yield Static(id="residency")

    def show(self, endpoint: EndpointSnapshot, thresholds: Thresholds, now: float, demo_loading: bool = False) -> None:
        """`demo_loading`: the demo is loading the model before its traffic starts (`ConsoleSession.warm_up`)."""
        self._shown = (endpoint, thresholds, now, demo_loading)
        for status in EndpointStatus:
            self.set_class(status is endpoint.status, f"-{status.value}")
        label = subtitle(endpoint)
        if label != self._subtitle:  # an OpenAI-compatible server names its kind once its gauges are read
            self._subtitle = self.border_subtitle = label
        self.query_one("#ttft-spark", Sparkline).data = endpoint.ttft_history
        self.query_one("#latency-spark", Sparkline).data = endpoint.latency_history
        capacity = endpoint.slots + thresholds.queue
        self.query_one("#gauge", ProgressBar).update(total=capacity, progress=min(capacity, endpoint.in_flight + endpoint.queued))
        errors = Content.styled(
            f"err {fmt.percent(endpoint.error_rate)}",
            "$latency-bad" if endpoint.error_rate > thresholds.error_rate else "",
        )
        extra = DEMO_LOADING if demo_loading else server_queue_text(endpoint)  # on the compact line, when it fits
        texts: dict[str, Content | str] = {
            "status": status_text(endpoint),
            "ttft-stats": quantiles(endpoint.ttft_p50_s, endpoint.ttft_p95_s, thresholds.ttft_s),
            "latency-stats": quantiles(endpoint.latency_p50_s, endpoint.latency_p95_s, thresholds.latency_s),
            # decode speed beside the load, so the counts line fits a card at 110 columns (32 cells)
            "load": f"{fmt.rate(endpoint.decode_tps, ' tok/s')} · {load_text(endpoint)}",
            "throughput": Content.assemble(errors, f" · {endpoint.successes} ok / {endpoint.errors} failed"),
            "residency": last_line(endpoint, now, demo_loading),
            "compact-line": with_room_for(compact_line(endpoint, thresholds, errors), extra, self.content_size.width),
        }
        for widget_id, content in texts.items():
            set_text(self.query_one(f"#{widget_id}", Static), content)

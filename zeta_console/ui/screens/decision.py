"""The full story of one decision: classification, every candidate's score by term, outcome."""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from zeta_console.router.api import ALL_TASKS, Decision, OperatorAction, Prediction, Ranking, RequestRecord
from zeta_console.ui import format as fmt
from zeta_console.ui.eventlog import LogEntry
from zeta_console.ui.widgets.footer import ConsoleFooter


def _line(label: str, value: str) -> Content:
    return Content.assemble((f"{label:>12} ", "$text-muted"), value)


def decision_lines(entry: LogEntry, tz: tzinfo | None) -> list[Content]:
    decision = entry.decision
    if decision is None:
        return []
    classification = decision.classification
    pins = ", ".join(f"{'all' if task == ALL_TASKS else task}→{tier}" for task, tier in sorted(decision.pins.items()))
    lines = [
        _line("request", f"{decision.request_id} at {fmt.clock(decision.at, tz)} from {decision.client}"),
        _line(
            "task",
            f"{classification.task.value} (confidence {classification.confidence:.2f}, "
            f"{classification.method}: {classification.reason})",
        ),
        _line("policy", decision.policy),
        _line("chosen", decision.chosen or "nobody: rejected"),
        _line("why", decision.reason),
        _line("pins", pins or "none"),
        _line("fallbacks", " → ".join(decision.fallbacks) if decision.fallbacks else "none"),
    ]
    record = entry.record
    if decision.prediction is not None:
        lines += prediction_lines(decision.prediction, record)
    if record is None:
        lines.append(_line("outcome", "still running"))
    else:
        tokens = f"{record.prompt_tokens or 0} in / {record.output_tokens or 0} out"
        outcome = f"{record.outcome.value} · TTFT {fmt.seconds(record.ttft_s)} · total {fmt.seconds(record.total_s)} · {tokens}"
        lines.append(_line("outcome", outcome))
        if record.error:
            lines.append(_line("error", f"{record.error_kind.value if record.error_kind else ''} {record.error}".strip()))
    return lines


RANKED_BY = {Ranking.COMPLETION: "ranked by completion", Ranking.READER: "ranked by TTFT + decode slower than reading"}


def _versus(actual: float | None, predicted: float) -> str:
    """`0.35s (predicted +13%)`: the actual time and how far the prediction was from it."""
    if actual is None:
        return "—"
    if actual <= 0:
        return fmt.seconds(actual)
    return f"{fmt.seconds(actual)} (predicted {(predicted - actual) / actual:+.0%})"


def prediction_lines(prediction: Prediction, record: RequestRecord | None) -> list[Content]:
    """Predicted against actual, both counted from the decision (a request that waited for a slot says so)."""
    wait = fmt.waited(prediction.waited_s)
    waited = f" · decided after {wait} waiting" if wait else ""
    lines = [
        _line(
            "predicted",
            f"TTFT {fmt.seconds(prediction.ttft_s)} · completion {fmt.seconds(prediction.completion_s)}"
            f" · ~{prediction.output_tokens:.0f} tokens out · {RANKED_BY[prediction.ranked_by]}{waited}",
        )
    ]
    if record is not None:
        lines.append(
            _line(
                "actual",
                f"TTFT {_versus(record.actual_ttft_s, prediction.ttft_s)}"
                f" · completion {_versus(record.actual_completion_s, prediction.completion_s)}",
            )
        )
    return lines


def action_lines(action: OperatorAction, tz: tzinfo | None) -> list[Content]:
    return [
        _line("action", action.action),
        _line("target", action.target),
        _line("change", f"{action.old} → {action.new}"),
        _line("by", f"{action.source} at {fmt.clock(action.at, tz)}"),
    ]


def term_names(decision: Decision) -> list[str]:
    names: dict[str, None] = {}
    for candidate in decision.candidates:
        names.update(dict.fromkeys(candidate.terms))
    return list(names)


def candidate_table(decision: Decision) -> tuple[list[str], list[list[str]]]:
    """Header and rows: the winner marked, then by score, the excluded last."""
    terms = term_names(decision)
    rows = []
    for candidate in sorted(decision.candidates, key=lambda item: (item.excluded is not None, item.score)):
        marker = "→" if candidate.endpoint == decision.chosen else ""
        row = [marker, candidate.endpoint, candidate.model, f"{candidate.score:.3f}"]
        row += [f"{candidate.terms[term]:.3f}" if term in candidate.terms else "" for term in terms]
        row.append(candidate.excluded or "")
        rows.append(row)
    return ["", "endpoint", "model", "score", *terms, "excluded"], rows


def entry_text(entry: LogEntry, tz: tzinfo | None) -> str:
    """The detail as plain text for the clipboard: the summary, then the candidates as TSV."""
    lines = action_lines(entry.action, tz) if entry.action else decision_lines(entry, tz)
    text = "\n".join(line.plain for line in lines)
    if entry.decision is not None:
        header, rows = candidate_table(entry.decision)
        text += "\n\n" + "\n".join("\t".join(row) for row in [header, *rows])
    return text + "\n"


class DecisionScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="decision.close"),
        Binding("c", "copy", "Copy", id="decision.copy"),
    ]
    HELP = "Lower score wins. Excluded candidates could not be chosen; the column says why."

    def __init__(self, entry: LogEntry, tz: tzinfo | None) -> None:
        super().__init__()
        self.entry = entry
        self.tz = tz

    def compose(self) -> ComposeResult:
        entry = self.entry
        with Vertical(id="decision-box") as box:
            box.border_title = "Operator action" if entry.action else "Decision"
            with VerticalScroll(id="decision-summary"):
                lines = action_lines(entry.action, self.tz) if entry.action else decision_lines(entry, self.tz)
                yield Static(Content("\n").join(lines))
            if entry.decision is not None:
                yield DataTable(id="candidates", cursor_type="row", zebra_stripes=True)
        yield ConsoleFooter()  # this screen's keys (copy, close), not the log's underneath

    def on_mount(self) -> None:
        decision = self.entry.decision
        if decision is None:
            return
        table = self.query_one("#candidates", DataTable)
        header, rows = candidate_table(decision)
        table.add_columns(*header)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        table.focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(entry_text(self.entry, self.tz))
        self.notify("The whole decision, candidates as tab-separated rows.", title="Copied")

"""Choose where to write the decision log; the extension picks CSV or JSON Lines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole


class ExportScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close", id="export.close")]

    app: ZetaConsole

    def __init__(self, suggested: Path) -> None:
        super().__init__()
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box") as box:
            box.border_title = "Export the decision log"
            yield Static("Path (.csv or .jsonl); Enter writes, Esc cancels.", classes="hint")
            yield Input(str(self.suggested), id="export-path")

    @on(Input.Submitted, "#export-path")
    def _write(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip() or str(self.suggested)).expanduser()
        self.dismiss()
        self.app.export_log(path)

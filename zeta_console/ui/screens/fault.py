"""Demo mode: pick a simulated endpoint and break it, to watch the router route around it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from zeta_console.ui.session import FAULT_LABELS, FaultInjector, FaultKind

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole


def fault_choices(faults: FaultInjector) -> list[tuple[str, str, FaultKind]]:
    """(option id, label, fault) for every simulated endpoint and fault kind."""
    return [
        (f"{endpoint}|{kind.value}", f"{endpoint}: {FAULT_LABELS[kind]}", kind)
        for endpoint in faults.targets()
        for kind in FaultKind
    ]


class FaultScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close", id="fault.close")]

    app: ZetaConsole

    def __init__(self, faults: FaultInjector) -> None:
        super().__init__()
        self.faults = faults

    def compose(self) -> ComposeResult:
        with Vertical(id="fault-box") as box:
            box.border_title = "Inject a fault (simulated fleet)"
            yield Static("Enter applies; watch the cards and the decision log.", classes="hint")
            yield OptionList(*(Option(label, id=option_id) for option_id, label, _ in fault_choices(self.faults)))

    @on(OptionList.OptionSelected)
    def _inject(self, event: OptionList.OptionSelected) -> None:
        endpoint, _, kind = (event.option_id or "").partition("|")
        self.dismiss()
        self.app.inject_fault(endpoint, FaultKind(kind))

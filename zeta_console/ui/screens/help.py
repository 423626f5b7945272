"""Help generated from the bindings of the app, the screen underneath and its widgets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from zeta_console.ui.app import ZetaConsole

PREFIX_HELP = (
    ("/code …", "route as code"),
    ("/reason …", "route as complex reasoning"),
    ("/simple …", "route as simple"),
    ("/embed …", "embed with the embedder tier"),
)


def words(name: str) -> str:
    """`DecisionTable` -> `Decision table`."""
    return re.sub(r"(?<!^)([A-Z])", lambda match: " " + match.group(1).lower(), name)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,question_mark,q", "dismiss", "Close", id="help.close")]

    app: ZetaConsole

    def __init__(self, underneath: Screen[object]) -> None:
        super().__init__()
        self.underneath = underneath

    def sections(self) -> list[tuple[str, list[Binding]]]:
        """(section, bindings with ids) for the app, the screen below and each widget class on it."""
        owners: list[type[object]] = [type(self.app), type(self.underneath)]
        for widget in self.underneath.query("*"):
            if "BINDINGS" in vars(type(widget)) and type(widget) not in owners:
                owners.append(type(widget))
        result = []
        for owner in owners:
            bindings = [binding for binding in Binding.make_bindings(vars(owner)["BINDINGS"]) if binding.id]
            if bindings:
                result.append(("Global" if owner is type(self.app) else words(owner.__name__), bindings))
        return result

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys (remap any of them with ui.keymap in the config, by id)", id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(self.underneath.HELP or "", id="help-context")

    def on_mount(self) -> None:
        # where a key acts is a heading row, not a column, so that key, meaning and id fit 80 columns
        table = self.query_one(DataTable)
        table.add_columns("key", "what", "id")
        for title, bindings in self.sections():
            table.add_row("", Text(title, style="bold"), "")
            for binding in bindings:
                keys = self.app.keymap.get(binding.id or "", binding.key)
                shown = ", ".join(self.app.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))
                table.add_row(shown, binding.description, binding.id)
        table.add_row("", Text("Prompt", style="bold"), "")
        for prefix, meaning in PREFIX_HELP:
            table.add_row(prefix, meaning, "")
        table.add_row("", Text("Anywhere", style="bold"), "")
        table.add_row("ctrl+p", "command palette", "")
        table.focus()

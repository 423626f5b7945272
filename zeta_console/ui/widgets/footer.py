"""The footer: F1 Help always in view at the left; a key that would be cut at the right edge is hidden whole."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"  # F1 lists every key, so whatever does not fit is one key away


class ConsoleFooter(Footer):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action == HELP_ACTION:
                widget.add_class("-help")
            yield widget

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self._hide_cut_keys)

    def on_resize(self) -> None:
        self.call_after_refresh(self._hide_cut_keys)

    def _hide_cut_keys(self) -> None:
        keys = list(self.query_children(FooterKey))
        edge = min((key.region.x for key in keys if key.styles.dock == "right"), default=self.region.right)  # the palette key
        for key in keys:
            if key.styles.dock == "none":
                key.visible = key.region.right <= edge

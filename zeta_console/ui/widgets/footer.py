"""The footer: F1 Help always in view at the left, then the keys to the other screens (Controls, Charts) before the
focused widget's own; a key that would be cut at the right edge is hidden whole."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"  # F1 lists every key, so whatever does not fit is one key away
# In Textual's order (the binding chain's) the prompt's keys, Fault and Export came before Controls and Charts, so at
# 80-120 columns the keys to the operator's other screens were the ones hidden.
LEADING_ACTIONS = (HELP_ACTION, "controls", "charts")


class ConsoleFooter(Footer):
    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        for widget in widgets:
            if isinstance(widget, FooterKey) and widget.action == HELP_ACTION:
                widget.add_class("-help")
        yield from sorted(widgets, key=_place)

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self._hide_cut_keys)

    def on_resize(self) -> None:
        self.call_after_refresh(self._hide_cut_keys)

    def _hide_cut_keys(self) -> None:
        """Measured, not read from the layout: a footer under a modal recomposes without being laid out."""
        keys = list(self.query_children(FooterKey))
        room = self.size.width - sum(self._width(key) for key in keys if key.styles.dock != "none")
        for key in keys:
            if key.styles.dock == "none":
                room -= self._width(key)
                key.visible = room >= 0

    def _width(self, key: FooterKey) -> int:
        return key.get_content_width(self.size, self.size) + key.styles.gutter.width + key.styles.margin.width


def _place(widget: object) -> int:
    """A leading action's rank, the rest after them in Textual's order (the sort is stable)."""
    action = widget.action if isinstance(widget, FooterKey) else None
    return LEADING_ACTIONS.index(action) if action in LEADING_ACTIONS else len(LEADING_ACTIONS)

"""Updating text widgets only when their text changes."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def set_text(widget: Static, content: Content | str, layout: bool = False) -> None:
    """Skip unchanged text, and by default skip the re-layout: a layout repaints the whole screen,
    which under load costs more than everything else. Without `layout`, the widget's size must
    not depend on its text (fixed height and width in the CSS)."""
    if widget.content != content:
        widget.update(content, layout=layout)

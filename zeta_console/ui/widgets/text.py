"""Updating text widgets only when their text changes."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def set_text(widget: Static, content: Content | str) -> None:
    """Static.update re-lays out the screen; at the refresh rate most values have not changed."""
    if widget.content != content:
        widget.update(content)

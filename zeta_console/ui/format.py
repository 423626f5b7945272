"""Short, fixed-width renderings of numbers for cards, tables and the header."""

from __future__ import annotations

from datetime import datetime, tzinfo

DASH = "—"


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 10:
        return f"{value:.2f}s"
    if value < 100:
        return f"{value:.1f}s"
    return f"{value:.0f}s"


def duration(value: float) -> str:
    """A countdown such as `4m12s` or `38s`."""
    total = max(0, int(round(value)))
    minutes, secs = divmod(total, 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def rate(value: float | None, unit: str = "/s") -> str:
    return DASH if value is None else f"{value:.1f}{unit}"


def size(value: int | None) -> str:
    if value is None:
        return DASH
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.1f} {unit}" if unit != "B" else f"{value} B"
        amount /= 1024
    return DASH


def clock(timestamp: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(timestamp, tz).strftime("%H:%M:%S")


WAITED_NOTICE_S = 0.05  # a wait shorter than this is not worth a mention


def waited(waited_s: float) -> str:
    """"4.66s" for a request decided after waiting that long for a slot, "" for a wait not worth a mention."""
    return seconds(waited_s) if waited_s >= WAITED_NOTICE_S else ""

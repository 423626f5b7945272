"""Ollama's `created_at`: the moment a reply line was made, as Go prints a UTC time.Time."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_timestamp(moment: float) -> str:
    """RFC 3339 in UTC with trailing zeros of the fraction trimmed, as Go prints time.Time."""
    stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return stamp + "Z"

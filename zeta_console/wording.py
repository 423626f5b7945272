"""Counts in messages: "1 host", "3 hosts"."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural (a trailing s) unless the count is one."""
    return f"{count} {noun if count == 1 else noun + 's'}"

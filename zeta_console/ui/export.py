"""Write the decision log to CSV or JSON Lines (Textual-free)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zeta_console.ui.eventlog import LogEntry

FIELDS = (
    "time", "request_id", "client", "task", "confidence", "policy", "endpoint", "model",
    "reason", "fallbacks", "pins", "ttft_s", "total_s", "outcome", "error",
)  # fmt: skip
FORMATS = ("csv", "jsonl")


def entry_row(entry: LogEntry) -> dict[str, Any]:
    decision = entry.decision
    record = entry.record
    return {
        "time": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "request_id": decision.request_id if decision else entry.key,
        "client": entry.client,
        "task": entry.task,
        "confidence": entry.confidence,
        "policy": decision.policy if decision else None,
        "endpoint": entry.endpoint,
        "model": entry.model or None,
        "reason": entry.reason,
        "fallbacks": " ".join(decision.fallbacks) if decision else None,
        "pins": " ".join(f"{task}={tier}" for task, tier in sorted(decision.pins.items())) if decision else None,
        "ttft_s": entry.ttft_s,
        "total_s": entry.total_s,
        "outcome": entry.outcome,
        "error": record.error if record else None,
    }


def format_for(path: Path) -> str:
    return "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "csv"


def default_path(fmt: str, now: float, directory: Path | None = None) -> Path:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    return (directory or Path.cwd()) / f"zeta-decisions-{stamp}.{fmt}"


def write_log(entries: Iterable[LogEntry], path: Path) -> int:
    """Write every entry; the format follows the file extension. Returns the row count."""
    rows = [entry_row(entry) for entry in entries]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if format_for(path) == "jsonl":
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return len(rows)

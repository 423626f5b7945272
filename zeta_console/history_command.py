"""`zeta-console history`: the journal's requests and operator actions as one timeline (table, JSON lines or CSV)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from zeta_console.config import load_settings, plain_data
from zeta_console.journal import JournalReader, JournalRequest, journal_path
from zeta_console.router.api import OperatorAction

_TABLE_COLUMNS = ("time", "client", "task", "endpoint", "ttft", "total", "outcome", "reason")
_CSV_COLUMNS = ("time", "kind", "client", "task", "endpoint", "ttft_s", "total_s", "outcome", "reason")


@dataclass(frozen=True)
class _TimelineRow:
    """A request or an operator action, as one line of the history."""

    at: float
    kind: str
    client: str
    task: str
    endpoint: str
    ttft_s: float | None
    total_s: float | None
    outcome: str
    reason: str
    details: Mapping[str, Any]


def run_history_command(args: argparse.Namespace) -> int:
    """`zeta-console history [--last N] [--json | --csv] [--config PATH]`."""
    path = journal_path(load_settings(args.config))
    if not path.is_file():
        print(f"no journal at {path}: nothing has been routed yet", file=sys.stderr)
        return 0
    reader = JournalReader(path)
    try:
        rows = _timeline(reader, max(0, args.last))
    finally:
        reader.close()
    if not rows:
        print(f"the journal at {path} is empty", file=sys.stderr)
    elif args.json:
        for row in rows:
            print(json.dumps(_finite({"kind": row.kind, "time": _iso_time(row.at), **row.details}), allow_nan=False))
    elif args.csv:
        _write_csv(rows, sys.stdout)
    else:
        _write_table(rows, sys.stdout)
    return 0


def _timeline(reader: JournalReader, last: int) -> list[_TimelineRow]:
    rows = [_request_row(request) for request in reader.recent_requests(last)]
    rows += [_action_row(action) for action in reader.recent_actions(last)]
    rows.sort(key=lambda row: row.at)
    return rows[-last:] if last else []


def _request_row(request: JournalRequest) -> _TimelineRow:
    reason = request.reason if request.error is None else f"{request.reason}; error: {request.error}"
    return _TimelineRow(
        request.started_at, "request", request.client, request.task, request.endpoint or "-",
        request.ttft_s, request.total_s, request.outcome, reason, plain_data(request),
    )  # fmt: skip


def _action_row(action: OperatorAction) -> _TimelineRow:
    return _TimelineRow(
        action.at, "action", action.source, action.action, action.target,
        None, None, "", f"{action.old} -> {action.new}", plain_data(action),
    )  # fmt: skip


def _finite(value: Any) -> Any:
    """`value` with every infinite or NaN number as None: JSON has neither (the score of an excluded candidate is infinite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _iso_time(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="milliseconds")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _write_table(rows: Sequence[_TimelineRow], out: TextIO) -> None:
    cells = [_TABLE_COLUMNS] + [
        (
            datetime.fromtimestamp(row.at).strftime("%Y-%m-%d %H:%M:%S"),
            row.client, row.task, row.endpoint, _seconds(row.ttft_s), _seconds(row.total_s), row.outcome or "-", row.reason,
        )  # fmt: skip
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(_TABLE_COLUMNS) - 1)]
    for line in cells:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]  # the last column is not padded
        print("  ".join([*padded, line[-1]]).rstrip(), file=out)


def _write_csv(rows: Sequence[_TimelineRow], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        writer.writerow((_iso_time(row.at), row.kind, row.client, row.task, row.endpoint, row.ttft_s, row.total_s, row.outcome, row.reason))

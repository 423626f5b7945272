"""The journal: every routed request and every operator action, in SQLite (stdlib, WAL).

Callers never wait for the disk: `Journal.record` puts the event on a queue and one writer
thread inserts in batches, one transaction per batch, and trims the oldest rows beyond the
retention bound. The writer gathers for up to `write_window_s` after the first event of a batch
(a flush or close cuts the wait short), so under load it wakes and commits a few times a second,
not once a request; a crash loses at most that window. `JournalReader` reads the file (`zeta-console history`, in history_command.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from zeta_console.config import plain_data, xdg_dir
from zeta_console.errors import UserError
from zeta_console.router.api import Decision, OperatorAction, RequestRecord, RouterEvent
from zeta_console.settings import Settings

SCHEMA_VERSION = 2
_BATCH_LIMIT = 500
WRITE_WINDOW_S = 0.1

_SCHEMA = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    decided_at REAL NOT NULL,
    client TEXT NOT NULL,
    task TEXT NOT NULL,
    confidence REAL NOT NULL,
    classifier_method TEXT NOT NULL,
    classifier_reason TEXT NOT NULL,
    policy TEXT NOT NULL,
    reason TEXT NOT NULL,
    decision TEXT NOT NULL,  -- JSON: candidates with their scores by term, pins, fallbacks
    endpoint TEXT,
    model TEXT,
    fallbacks TEXT NOT NULL,  -- JSON list of endpoints that failed before the first token
    ttft_s REAL,
    total_s REAL NOT NULL,
    prompt_tokens INTEGER,
    output_tokens INTEGER,
    outcome TEXT NOT NULL,
    error_kind TEXT,
    error TEXT,
    prompt TEXT
);
CREATE TABLE operator_actions (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    source TEXT NOT NULL
);
"""
# Version 2: the prediction recorded with the decision and the actual times it predicted, both
# counted from the decision's instant (`waited_s` after the request arrived).
_CALIBRATION_COLUMNS = (
    ("ranked_by", "TEXT"), ("waited_s", "REAL"), ("predicted_ttft_s", "REAL"), ("predicted_completion_s", "REAL"),
    ("actual_ttft_s", "REAL"), ("actual_completion_s", "REAL"),
)  # fmt: skip
_MIGRATIONS = {1: "".join(f"ALTER TABLE requests ADD COLUMN {name} {kind};" for name, kind in _CALIBRATION_COLUMNS)}
_REQUEST_COLUMNS = (
    "request_id", "started_at", "decided_at", "client", "task", "confidence", "classifier_method", "classifier_reason", "policy",
    "reason", "decision", "endpoint", "model", "fallbacks", "ttft_s", "total_s", "prompt_tokens", "output_tokens", "outcome",
    "error_kind", "error", "prompt", *(name for name, _ in _CALIBRATION_COLUMNS),
)  # fmt: skip
_ACTION_COLUMNS = ("at", "action", "target", "old", "new", "source")
_INSERT_REQUEST = f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))})"
_INSERT_ACTION = f"INSERT INTO operator_actions ({', '.join(_ACTION_COLUMNS)}) VALUES ({', '.join('?' * len(_ACTION_COLUMNS))})"

log = logging.getLogger(__name__)


class JournalError(UserError):
    """The journal file cannot be used (newer schema, not a database, unwritable)."""


@dataclass(frozen=True)
class JournalRequest:
    """One request as stored: flat, with the decision kept as JSON-ready data."""

    request_id: str
    started_at: float
    decided_at: float
    client: str
    task: str
    confidence: float
    classifier_method: str
    classifier_reason: str
    policy: str
    reason: str
    decision: Mapping[str, Any]
    endpoint: str | None
    model: str | None
    fallbacks: tuple[str, ...]
    ttft_s: float | None
    total_s: float
    prompt_tokens: int | None
    output_tokens: int | None
    outcome: str
    error_kind: str | None
    error: str | None
    prompt: str | None
    ranked_by: str | None = None  # the rest: None in rows written before schema version 2, and when nothing was predicted
    waited_s: float | None = None
    predicted_ttft_s: float | None = None
    predicted_completion_s: float | None = None
    actual_ttft_s: float | None = None
    actual_completion_s: float | None = None


def default_journal_path() -> Path:
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "zeta-console" / "journal.sqlite3"


def journal_path(settings: Settings) -> Path:
    return Path(settings.journal.path).expanduser() if settings.journal.path else default_journal_path()


class JournalReader:
    """Read access, usable from any thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._connection = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
            version = _schema_version(self._connection, self.path)
        except sqlite3.Error as error:
            raise JournalError(f"{self.path}: cannot read the journal: {error}") from None
        self._has_tables = version > 0
        # A reader cannot migrate (read-only): an older file's missing columns read as NULL.
        missing = {name for name, _ in _CALIBRATION_COLUMNS} if version < 2 else set()
        self._request_select = ", ".join("NULL" if column in missing else column for column in _REQUEST_COLUMNS)
        self._lock = threading.Lock()

    def recent_requests(self, n: int) -> list[JournalRequest]:
        """The last `n` requests, oldest first."""
        rows = self._query(f"SELECT {self._request_select} FROM requests ORDER BY id DESC LIMIT ?", n)
        return [_request_from_row(row) for row in reversed(rows)]

    def recent_actions(self, n: int) -> list[OperatorAction]:
        """The last `n` operator actions, oldest first."""
        rows = self._query(f"SELECT {', '.join(_ACTION_COLUMNS)} FROM operator_actions ORDER BY id DESC LIMIT ?", n)
        return [OperatorAction(*row) for row in reversed(rows)]

    def count_requests(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM requests")[0][0]) if self._has_tables else 0

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        if not self._has_tables:
            return []
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()


class Journal(JournalReader):
    """Records requests and operator actions off the caller's path; reads like a JournalReader."""

    def __init__(
        self, path: str | Path, *, retention_rows: int = 100_000, store_prompts: bool = False, write_window_s: float = WRITE_WINDOW_S,
    ) -> None:
        self.retention_rows = retention_rows
        self.store_prompts = store_prompts
        self.write_window_s = write_window_s
        self.batches_written = 0
        self.write_errors = 0  # batches that could not be written (logged); the writer keeps going
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Opened here so that a bad path fails now; used only by the writer thread from then on.
            self._writer_connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
            _prepare(self._writer_connection, path)
        except (OSError, sqlite3.Error) as error:
            raise JournalError(f"{path}: cannot open the journal: {error}") from None
        super().__init__(path)
        self._queue: queue.SimpleQueue[RequestRecord | OperatorAction | threading.Event | None] = queue.SimpleQueue()
        # Set by flush() and close(): the writer stops gathering and writes now. A put onto the queue wakes
        # the writer only while it waits for a batch's first event, not while it gathers the rest.
        self._urgent = threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._write_forever, name="zeta-journal-writer", daemon=True)
        self._writer.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> Journal:
        return cls(journal_path(settings), retention_rows=settings.journal.retention_rows, store_prompts=settings.journal.store_prompts)

    def observe(self, event: RouterEvent) -> None:
        """A router listener: every finished request and operator action (decisions are in the records)."""
        if not isinstance(event, Decision):
            self.record(event)

    def record(self, event: RequestRecord | OperatorAction) -> None:
        """Queue one event for the writer; never blocks on the disk."""
        if self._closed:
            raise RuntimeError("the journal is closed")
        self._queue.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is written; False if `timeout` ran out."""
        if self._closed:
            return True
        written = threading.Event()
        self._queue.put(written)  # the single writer reaches it only after all earlier events
        self._urgent.set()
        return written.wait(timeout)

    def close(self) -> None:
        """Write what is queued, stop the writer and release the files. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._urgent.set()
            self._writer.join()
            super().close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def _write_forever(self) -> None:
        connection = self._writer_connection
        try:
            stopping = False
            while not stopping:
                batch = self._next_batch()
                stopping = None in batch
                self._write_batch(connection, [event for event in batch if isinstance(event, (RequestRecord, OperatorAction))])
                for event in batch:
                    if isinstance(event, threading.Event):
                        event.set()
        finally:
            connection.close()

    def _next_batch(self) -> list[RequestRecord | OperatorAction | threading.Event | None]:
        batch = [self._queue.get()]
        self._urgent.wait(self.write_window_s)
        self._urgent.clear()  # before draining: a flush queued after this point is drained now or sets it again
        while len(batch) < _BATCH_LIMIT:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch
        self._urgent.set()  # a backlog beyond one batch: the next is written without gathering
        return batch

    def _write_batch(self, connection: sqlite3.Connection, events: Sequence[RequestRecord | OperatorAction]) -> None:
        if not events:
            return
        requests = [self._request_row(event) for event in events if isinstance(event, RequestRecord)]
        actions = [tuple(getattr(event, column) for column in _ACTION_COLUMNS) for event in events if isinstance(event, OperatorAction)]
        try:
            with connection:
                connection.executemany(_INSERT_REQUEST, requests)
                connection.executemany(_INSERT_ACTION, actions)
                for table in ("requests", "operator_actions"):
                    _trim(connection, table, self.retention_rows)
            self.batches_written += 1
        except Exception:  # the writer must outlive any one bad batch, or flush() would wait forever
            self.write_errors += 1
            log.exception("journal: could not write %d events to %s", len(events), self.path)

    def _request_row(self, record: RequestRecord) -> tuple[Any, ...]:
        decision = record.decision
        classification = decision.classification
        prediction = decision.prediction
        return (
            record.request_id,
            record.started_at,
            decision.at,
            decision.client,
            classification.task.value,
            classification.confidence,
            classification.method,
            classification.reason,
            decision.policy,
            decision.reason,
            _DECISION_JSON.encode(decision),
            record.endpoint,
            record.model,
            json.dumps(list(decision.fallbacks)),
            record.ttft_s,
            record.total_s,
            record.prompt_tokens,
            record.output_tokens,
            record.outcome.value,
            record.error_kind.value if record.error_kind else None,
            record.error,
            record.prompt if self.store_prompts else None,
            prediction.ranked_by.value if prediction else None,
            prediction.waited_s if prediction else None,
            prediction.ttft_s if prediction else None,
            prediction.completion_s if prediction else None,
            record.actual_ttft_s,
            record.actual_completion_s,
        )


def _schema_version(connection: sqlite3.Connection, path: Path) -> int:
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JournalError(f"{path}: journal schema version {version} is newer than this zeta-console understands ({SCHEMA_VERSION})")
    return version


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL, create the schema if the file is new, and bring an older one up to date."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commits
    version = _schema_version(connection, path)
    if version == 0:
        connection.executescript(f"BEGIN; {_SCHEMA} {_MIGRATIONS[1]} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        return
    for step in range(version, SCHEMA_VERSION):
        connection.executescript(f"BEGIN; {_MIGRATIONS[step]} PRAGMA user_version = {step + 1}; COMMIT;")


def _trim(connection: sqlite3.Connection, table: str, keep: int) -> None:
    # Ids are contiguous (rowid = max + 1 on insert; rows are only ever deleted from the oldest
    # end), so this keeps exactly `keep` rows without counting them.
    connection.execute(f"DELETE FROM {table} WHERE id <= (SELECT max(id) FROM {table}) - ?", (keep,))


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


def _one_level(value: Any) -> Any:
    """The encoder's hook for what it cannot write itself: a dataclass as a dict of its fields, unconverted
    (the encoder, in C, recurses into them), anything else by `plain_data`; the text is `plain_data`'s."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    return plain_data(value)


_DECISION_JSON = json.JSONEncoder(default=_one_level, check_circular=False)  # a Decision is a tree


def _request_from_row(row: tuple[Any, ...]) -> JournalRequest:
    values = dict(zip(_REQUEST_COLUMNS, row, strict=True))
    values["decision"] = json.loads(values["decision"])
    values["fallbacks"] = tuple(json.loads(values["fallbacks"]))
    return JournalRequest(**values)

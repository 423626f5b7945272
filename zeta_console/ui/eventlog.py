"""The console's record of routing events: a bounded, Textual-free store.

The router pushes `Decision`, `RequestRecord` and `OperatorAction` events through its listener,
possibly many hundreds per second. The store only appends to a pending queue there; the
screen drains it at its refresh rate and renders the batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from zeta_console.router.api import Decision, OperatorAction, RequestRecord, RouterEvent

ACTION_OUTCOME = "action"  # the outcome column of an operator action row
# Three times the table's rows, for filtering and export; each entry keeps its whole decision
# (~2 KB). The journal (`zeta-console history`) keeps everything.
CAPACITY = 3000


@dataclass(slots=True)
class LogEntry:
    """One row of the decision log: a routed request (decision, then its record) or an action."""

    key: str
    at: float
    client: str
    task: str
    confidence: float | None
    endpoint: str
    reason: str
    ttft_s: float | None = None
    total_s: float | None = None
    outcome: str = "running"
    decision: Decision | None = None
    record: RequestRecord | None = None
    action: OperatorAction | None = None

    @property
    def model(self) -> str:
        if self.record is not None and self.record.model:
            return self.record.model
        if self.decision is not None and self.decision.chosen is not None:
            for candidate in self.decision.candidates:
                if candidate.endpoint == self.decision.chosen:
                    return candidate.model
        return ""

    @classmethod
    def from_decision(cls, decision: Decision) -> LogEntry:
        return cls(
            key=decision.request_id,
            at=decision.at,
            client=decision.client,
            task=decision.classification.task.value,
            confidence=decision.classification.confidence,
            endpoint=decision.chosen or "—",
            reason=decision.reason,
            outcome="running" if decision.chosen else "rejected",
            decision=decision,
        )

    @classmethod
    def from_action(cls, action: OperatorAction, key: str) -> LogEntry:
        return cls(
            key=key,
            at=action.at,
            client=action.source,
            task="operator",
            confidence=None,
            endpoint=action.target,
            reason=f"{action.action} {action.target}: {action.old} → {action.new}",
            outcome=ACTION_OUTCOME,
            action=action,
        )

    def redecide(self, decision: Decision) -> None:
        self.decision = decision
        self.endpoint = decision.chosen or "—"
        self.reason = decision.reason

    def finish(self, record: RequestRecord) -> None:
        self.record = record
        if self.decision is None:
            self.decision = record.decision
        self.endpoint = record.endpoint or self.endpoint
        self.reason = record.decision.reason
        self.ttft_s = record.ttft_s
        self.total_s = record.total_s
        self.outcome = record.outcome.value


@dataclass(slots=True)
class Batch:
    """What changed since the last drain: new rows (in order) and finished rows already shown."""

    added: list[LogEntry] = field(default_factory=list)
    updated: list[LogEntry] = field(default_factory=list)


class EventLog:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, LogEntry] = OrderedDict()
        self._pending: deque[RouterEvent] = deque()
        self._lock = threading.Lock()  # the listener may run on another thread (serve, bench)
        self._action_count = 0

    def listener(self, event: RouterEvent) -> None:
        with self._lock:
            self._pending.append(event)

    def drain(self) -> Batch:
        with self._lock:
            events = list(self._pending)
            self._pending.clear()
        batch = Batch()
        added: dict[str, LogEntry] = {}
        updated: dict[str, LogEntry] = {}
        for event in events:
            self._apply(event, added, updated)
        while len(self._entries) > self.capacity:
            key, _ = self._entries.popitem(last=False)
            updated.pop(key, None)
            added.pop(key, None)
        batch.added = list(added.values())
        batch.updated = [entry for key, entry in updated.items() if key not in added]
        return batch

    def _apply(self, event: RouterEvent, added: dict[str, LogEntry], updated: dict[str, LogEntry]) -> None:
        if isinstance(event, OperatorAction):
            self._action_count += 1
            entry = LogEntry.from_action(event, key=f"action-{self._action_count}")
        else:
            existing = self._entries.get(event.request_id)
            if existing is not None:
                if isinstance(event, Decision):
                    existing.redecide(event)  # a new decision after a failover before the first token
                else:
                    existing.finish(event)
                updated[existing.key] = existing
                return
            entry = LogEntry.from_decision(event if isinstance(event, Decision) else event.decision)
            if isinstance(event, RequestRecord):
                entry.finish(event)
        self._entries[entry.key] = entry
        added[entry.key] = entry

    def extend(self, events: Iterable[RouterEvent]) -> None:
        for event in events:
            self.listener(event)

    def get(self, key: str) -> LogEntry | None:
        return self._entries.get(key)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


FILTER_FIELDS = ("model", "task", "outcome", "client", "endpoint")


def matches(entry: LogEntry, query: str) -> bool:
    """`coder task:code outcome:error`: every term must match; a bare term matches any field."""
    values = {
        "model": entry.model,
        "task": entry.task,
        "outcome": entry.outcome,
        "client": entry.client,
        "endpoint": entry.endpoint,
    }
    for term in query.lower().split():
        name, sep, wanted = term.partition(":")
        if sep and name in values:
            if wanted not in values[name].lower():
                return False
        elif not any(term in value.lower() for value in values.values()):
            return False
    return True

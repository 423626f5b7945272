"""Per-endpoint occupancy and the router-side queue with late binding.

The router never sends an endpoint more concurrent requests than it has slots. A request that
finds every eligible endpoint full waits here, *not* bound to an endpoint: when any slot it
could use frees up, the waiter is woken with a reservation on that slot and re-decides (so it
goes to whichever endpoint frees first, if the policy agrees). Interactive waiters come first,
then arrival order; a reserved slot cannot be taken by a newcomer (no barging).

`in_flight` changes only in `occupying` (an `Occupancy`, closed once) and `queued` only in `waiting`: both
context managers, decremented when they end, clamped at zero. `occupying` also keeps when each occupant is predicted to end,
so that a wait for a busy endpoint counts the rest of the answer under way (`frees_in_s`), not a whole one.
`next_change` resolves when room may have appeared (for a hedge, which takes a free slot when there is one rather
than queue). A late request's hedge that finds none waits in the line in its request's place by arrival
(`waiting(..., arrived=...)`), not last.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class Waiter:
    interactive: bool
    attributed: str  # the endpoint whose `queued` count this waiter adds to (its first choice)
    eligible: tuple[str, ...] = ()  # endpoints it may take when they free up, best first
    reservation: str | None = None  # a slot held for it since it was woken
    declined_at: int = -1  # release count when it last declined a reservation
    wake: asyncio.Future[None] | None = field(default=None, repr=False)
    seq: int = 0
    since: float = 0.0  # its place in arrival order (time.monotonic())


class Occupancy:
    """One slot held (`SlotTable.occupying`) until `close()`, which frees it once however often it is called.
    A plain object, not a generator's context manager: one is taken and freed per attempt."""

    __slots__ = ("_endpoint", "_occupant", "_table")

    def __init__(self, table: SlotTable, endpoint: str, occupant: int) -> None:
        self._table: SlotTable | None = table
        self._endpoint = endpoint
        self._occupant = occupant

    def close(self) -> None:
        table, self._table = self._table, None
        if table is not None:
            table._release(self._endpoint, self._occupant)

    def __enter__(self) -> Occupancy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SlotTable:
    def __init__(self, slots: Mapping[str, int]) -> None:
        self.slots = dict(slots)
        self.in_flight = dict.fromkeys(slots, 0)
        self._ends: dict[str, dict[int, float]] = {endpoint: {} for endpoint in slots}  # occupant -> predicted end (monotonic)
        self._occupants = itertools.count()
        self.queued = dict.fromkeys(slots, 0)
        self._reserved = dict.fromkeys(slots, 0)
        self._lines: tuple[dict[int, Waiter], dict[int, Waiter]] = ({}, {})  # interactive, background
        self._seq = itertools.count()
        self._releases = 0
        self._pump_scheduled = False
        self.wanted = dict.fromkeys(slots, 0)  # sleeping waiters that may take each endpoint
        self._watchers: list[asyncio.Future[None]] = []  # from `next_change`

    def has_room(self, endpoint: str, waiter: Waiter | None = None) -> bool:
        if waiter is not None and waiter.reservation == endpoint:
            return True
        return self.in_flight[endpoint] + self._reserved[endpoint] < self.slots[endpoint]

    def reserved_for_another(self, endpoint: str, waiter: Waiter | None = None) -> bool:
        """`endpoint` has a slot free of requests that is reserved for a waiter other than `waiter`: a decision,
        which counts in-flight requests only, saw it free."""
        return not self.has_room(endpoint, waiter) and self.in_flight[endpoint] < self.slots[endpoint]

    def frees_in_s(self, endpoint: str, now: float) -> float | None:
        """How soon the first of `endpoint`'s occupants is expected to end, seconds from `now`: before its predicted end,
        the rest; past it, as long again as it has overrun (when a late answer ends is not known, and the longer it
        overruns the longer it is likely to take). None when none has a prediction (nothing in flight, say)."""
        soonest = None
        for end in self._ends[endpoint].values():
            rest = end - now if end > now else now - end
            if soonest is None or rest < soonest:
                soonest = rest
        return soonest

    def total_queued(self) -> int:
        return sum(self.queued.values())

    def queued_ahead(self, waiter: Waiter) -> dict[str, int]:
        """Per endpoint, the waiters that will be served before `waiter`: its real queue."""
        ahead = dict.fromkeys(self.slots, 0)
        for other in itertools.chain(self._lines[0].values(), self._lines[1].values()):
            if other is waiter:
                break
            ahead[other.attributed] += 1
        return ahead

    def occupying(self, endpoint: str, waiter: Waiter | None = None, ends_at: float | None = None) -> Occupancy:
        """Hold one slot of `endpoint` from now until the returned `Occupancy` is closed (or its `with` block ends);
        check `has_room` first, with no await in between. `ends_at`: when the occupant is predicted to end
        (time.monotonic()), None when nothing predicted it."""
        if waiter is not None:
            self._drop_reservation(waiter)
        self.in_flight[endpoint] += 1
        occupant = next(self._occupants)
        if ends_at is not None:
            self._ends[endpoint][occupant] = ends_at
        return Occupancy(self, endpoint, occupant)

    def _release(self, endpoint: str, occupant: int) -> None:
        self._ends[endpoint].pop(occupant, None)
        self.in_flight[endpoint] = max(0, self.in_flight[endpoint] - 1)
        self._releases += 1
        self._schedule_pump()
        self.changed()

    @contextmanager
    def waiting(self, waiter: Waiter, arrived: float | None = None) -> Iterator[Waiter]:
        """Stand in the queue until the block ends (dispatched, rejected, cancelled or timed out): last, or with
        `arrived` in the place of a request that arrived then (behind the waiters that queued before, ahead of those
        that queued after)."""
        waiter.seq = next(self._seq)
        waiter.since = time.monotonic() if arrived is None else arrived
        line = self._lines[0 if waiter.interactive else 1]
        line[waiter.seq] = waiter
        if arrived is not None:
            in_order = sorted(line.values(), key=lambda other: other.since)
            line.clear()
            line.update((other.seq, other) for other in in_order)
        self.queued[waiter.attributed] += 1
        try:
            yield waiter
        finally:
            self.queued[waiter.attributed] = max(0, self.queued[waiter.attributed] - 1)
            del self._lines[0 if waiter.interactive else 1][waiter.seq]
            self._drop_reservation(waiter)

    async def sleep(self, waiter: Waiter, eligible: Sequence[str]) -> None:
        """Wait (inside `waiting`) until a slot among `eligible` is reserved for this waiter."""
        waiter.eligible = tuple(endpoint for endpoint in eligible if endpoint in self.slots)
        if waiter.reservation is not None:  # woken, but the policy did not take the slot
            waiter.declined_at = self._releases
            self._drop_reservation(waiter)
        waiter.wake = asyncio.get_running_loop().create_future()
        for endpoint in waiter.eligible:
            self.wanted[endpoint] += 1
        self._schedule_pump()
        try:
            await waiter.wake
        finally:
            waiter.wake = None
            for endpoint in waiter.eligible:
                self.wanted[endpoint] -= 1

    def wake_all(self) -> None:
        """Let every waiter re-decide (an endpoint came back, a pin or policy changed)."""
        self._releases += 1
        for line in self._lines:
            for waiter in line.values():
                if waiter.wake is not None and not waiter.wake.done():
                    waiter.wake.set_result(None)
        self.changed()

    def next_change(self) -> asyncio.Future[None]:
        """Resolved at the next moment an endpoint may have gained room: a slot released or a reservation
        dropped here, `wake_all`, or `changed` (the servers' own counts re-read). Cancel it when no longer needed."""
        future = asyncio.get_running_loop().create_future()
        self._watchers.append(future)
        return future

    def changed(self) -> None:
        """Resolve the futures of `next_change`. Called after the queue's pump was scheduled, so that the
        queue's waiters get a freed slot first (no barging)."""
        watchers, self._watchers = self._watchers, []
        for future in watchers:
            if not future.done():
                future.set_result(None)

    def _drop_reservation(self, waiter: Waiter) -> None:
        if waiter.reservation is not None:
            self._reserved[waiter.reservation] = max(0, self._reserved[waiter.reservation] - 1)
            waiter.reservation = None
            self._schedule_pump()
            self.changed()

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled and (self._lines[0] or self._lines[1]):
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """Hand free slots to sleeping waiters, interactive first, then in arrival order."""
        self._pump_scheduled = False
        # Only endpoints some sleeper may take: a free slot nobody wants (an idle embedder under chat
        # load) would otherwise walk the whole line on every release.
        room = {
            endpoint: free
            for endpoint, slots in self.slots.items()
            if self.wanted[endpoint] and (free := slots - self.in_flight[endpoint] - self._reserved[endpoint]) > 0
        }
        if not room:
            return
        for waiter in itertools.chain(self._lines[0].values(), self._lines[1].values()):
            if waiter.wake is None or waiter.wake.done() or waiter.declined_at == self._releases:
                continue
            endpoint = next((candidate for candidate in waiter.eligible if room.get(candidate, 0) > 0), None)
            if endpoint is None:
                continue
            room[endpoint] -= 1
            self._reserved[endpoint] += 1
            waiter.reservation = endpoint
            waiter.wake.set_result(None)
            if not any(room.values()):
                return

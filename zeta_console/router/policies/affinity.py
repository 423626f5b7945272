"""Load-aware session affinity: `adaptive`'s last word on a conversation the router has seen.

The endpoint holding the session's prefix in its prompt cache (`SessionHint.holder`) is already
scored for the uncached part of the prompt only. It keeps the session while its score is within
`affinity.margin` of the best other open endpoint's; otherwise the session moves (and so does its
cache). A session no endpoint holds is placed where it will stay: a chat's load comes back turn
after turn, while an instantaneous score sees only this turn. It goes to the replica of the best
endpoint's tier expected to serve the fewest returning sessions per slot (`SessionHint.held`:
conversations, plus first turns at the rate sessions have come back), if the best endpoint holds
at least one more and that replica's score is within the margin of the best (or it was never
measured, which is how a new replica gets its share); otherwise the best endpoint. One-shot
traffic never comes back, so there the best endpoint it is. Every outcome is one phrase of the
decision's reason:
  affinity hit: <holder> holds ~N tokens; score 0.31 vs <other> 0.95, margin 50%
  affinity miss: new session (or forgotten as least recently used); placed on <e> (0.5 sessions per slot ...)
  affinity moved: <holder> holds ~N tokens but costs more than the margin allows; score ... / ... saturated / ... drained
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from zeta_console.router.candidates import EndpointState, SessionHint


class Stick:
    """What affinity decided; its phrase of the decision's reason is built when first read (adaptive reads it
    only when the decision's own reason is read: not when a queued request decides again)."""

    __slots__ = ("_reason", "chosen", "hit")

    def __init__(self, hit: bool, chosen: int, reason: Callable[[], str]) -> None:
        self.hit = hit  # the holder takes the request (then no exploration: it would cost the cache)
        self.chosen = chosen  # pool index: the holder on a hit, a new session's placement, else the policy's own best
        self._reason = reason

    @property
    def reason(self) -> str:
        return self._reason()


def holder_index(session: SessionHint | None, pool: Sequence[EndpointState]) -> int | None:
    """The pool index of the endpoint holding the session, if it may take the request."""
    if session is None or session.holder is None:
        return None
    for i, e in enumerate(pool):
        if e.id == session.holder:
            return i
    return None


def stick(
    session: SessionHint,
    pool: Sequence[EndpointState],
    holder: int | None,
    best: int,
    scores: Sequence[float],
    open_: Sequence[int],
    saturated: Callable[[], Mapping[int, str]],
    rejected: Mapping[str, str],
) -> Stick:
    """Whether the session stays on its holder, and why (`best`: the policy's choice without affinity; `open_`: the
    pool indices not excluded as saturated, `saturated()`: why those are)."""
    if session.holder is None:
        return _place(session, pool, best, scores, open_)
    if holder is None:
        name = session.holder
        why = rejected.get(name, "unavailable")
        return Stick(False, best, lambda: f"affinity moved: {name} holds the session but cannot take it ({why})")

    def holds() -> str:
        return f"{pool[holder].id} holds ~{session.cached_tokens} tokens"

    if holder not in open_:
        return Stick(False, best, lambda: f"affinity moved: {holds()} but is {saturated()[holder]}")
    others = [i for i in open_ if i != holder]
    if not others:
        return Stick(True, holder, lambda: f"affinity hit: {holds()}, no other endpoint open")
    other = min(others, key=scores.__getitem__)

    def terms() -> str:
        return f"score {scores[holder]:.2f} vs {pool[other].id} {scores[other]:.2f}, margin {session.margin:.0%}"

    if scores[holder] <= scores[other] * (1.0 + session.margin):
        return Stick(True, holder, lambda: f"affinity hit: {holds()}; {terms()}")
    return Stick(False, best, lambda: f"affinity moved: {holds()} but costs more than the margin allows; {terms()}")


def _place(session: SessionHint, pool: Sequence[EndpointState], best: int, scores: Sequence[float], open_: Sequence[int]) -> Stick:
    """A session no endpoint holds: the replica of the best endpoint's tier expected to serve the
    fewest returning sessions per slot, when the best serves at least one more and the replica's
    score is within the margin (or it was never measured); else the best."""
    limit = scores[best] * (1.0 + session.margin)
    tier = pool[best].tier
    crowd = session.held.get(pool[best].id, 0.0) - 1.0

    def per_slot(i: int) -> float:
        return session.held.get(pool[i].id, 0.0) / max(1, pool[i].slots)

    def fits(i: int) -> bool:
        e = pool[i]
        cheap = scores[i] <= limit or (e.ttft_ewma_s is None and e.resident is not False)
        return e.tier == tier and session.held.get(e.id, 0.0) <= crowd and cheap

    chosen = min((i for i in open_ if fits(i)), key=lambda i: (per_slot(i), scores[i]), default=best)

    def reason() -> str:
        said = f"affinity miss: {session.unheld}"
        if chosen == best:
            return said
        return f"{said}; placed on {pool[chosen].id} ({per_slot(chosen):.2g} sessions per slot expected back, fewest within margin)"

    return Stick(False, chosen, reason)

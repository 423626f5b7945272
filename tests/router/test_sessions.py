"""Which session a request belongs to, and how the router forgets sessions (LRU, idle TTL)."""

from __future__ import annotations

import pytest

from zeta_console.router.affinity import NEW_SESSION, SessionTable, session_key
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.settings import Affinity

SYSTEM = {"role": "system", "content": "be terse"}


def chat(*messages: dict[str, str], session: str | None = None) -> ChatRequest:
    return ChatRequest(messages=list(messages), session=session)


def test_later_turns_share_the_key_of_their_system_prompt_and_first_question() -> None:
    first = chat(SYSTEM, {"role": "user", "content": "q1"})
    later = chat(SYSTEM, {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"})
    assert session_key(first) == session_key(later) is not None
    assert session_key(chat(SYSTEM, {"role": "user", "content": "another q1"})) != session_key(first)
    assert session_key(chat({"role": "system", "content": "be verbose"}, {"role": "user", "content": "q1"})) != session_key(first)
    assert session_key(chat({"role": "user", "content": "q1"})) != session_key(first)


def test_an_explicit_session_wins_over_the_opening_and_generate_needs_one() -> None:
    named = chat({"role": "user", "content": "q1"}, session="abc")
    assert session_key(named) == session_key(chat({"role": "user", "content": "something else"}, session="abc")) == "id:abc"
    assert session_key(GenerateRequest(prompt="hi", session="abc")) == "id:abc"
    assert session_key(GenerateRequest(prompt="hi")) is None  # every prompt differs: no conversation to key
    assert session_key(EmbedRequest(input="hi")) is None
    assert session_key(chat(SYSTEM)) is None  # no question yet


def test_the_least_recently_used_session_is_forgotten_past_max_sessions() -> None:
    table = SessionTable(Affinity(max_sessions=2))
    table.remember("one", "coder@a", 100, now=0.0)
    table.remember("two", "coder@b", 100, now=1.0)
    table.remember("one", "coder@a", 200, now=2.0)  # used again: now the most recent
    table.remember("three", "coder@a", 100, now=3.0)
    assert len(table) == 2
    assert table.hint("two", 500, now=4.0).holder is None
    assert table.hint("two", 500, now=4.0).unheld == NEW_SESSION
    assert table.hint("one", 500, now=4.0).holder == "coder@a"


def test_an_idle_session_is_forgotten_after_its_ttl_and_the_hint_says_so() -> None:
    table = SessionTable(Affinity(idle_ttl_s=60.0))
    table.remember("chat", "coder@a", 300, now=0.0)
    held = table.hint("chat", 400, now=59.0)
    assert (held.holder, held.cached_tokens) == ("coder@a", 300)
    gone = table.hint("chat", 400, now=121.0)
    assert gone.holder is None
    assert gone.unheld == "forgotten: idle 121 s > 60 s (affinity.idle_ttl_s)"
    assert len(table) == 0


def test_the_cached_part_never_covers_the_whole_prompt() -> None:
    table = SessionTable(Affinity())
    table.remember("chat", "coder@a", 300, now=0.0)
    assert table.hint("chat", 200, now=1.0).cached_tokens == 199  # the last token is always evaluated


def test_an_endpoint_is_expected_to_serve_its_conversations_and_its_first_turns_at_the_return_rate() -> None:
    table = SessionTable(Affinity(max_sessions=4))
    table.remember("chat", "coder@b", 100, now=0.0)
    table.remember("chat", "coder@b", 300, now=1.0)  # it came back: a conversation
    for index in range(3):
        table.remember(f"one-shot {index}", "coder@a", 100, now=2.0 + index)
    held = table.hint("new", 50, now=9.0).held
    assert held["coder@b"] == 1.0
    assert held["coder@a"] == pytest.approx(3 * (1 + 0.5) / (4 + 1))  # 1 of 4 sessions came back (with a prior of one half)
    table.remember("chat", "coder@a", 400, now=10.0)  # it moved
    table.remember("one-shot 3", "coder@a", 100, now=11.0)  # the least recently used ("one-shot 0") is forgotten
    held = table.hint("new", 50, now=12.0).held
    assert "coder@b" not in held
    assert held["coder@a"] == pytest.approx(1 + 3 * (1 + 0.5) / (5 + 1))

"""Sessions and the endpoints whose prompt caches hold them.

Ollama and llama.cpp keep each slot's last prompt in its KV cache, so the next turn of a
conversation on the same server is prefilled only for what is new. A request's session is the
caller's own name for it (serve's `X-Zeta-Session` header, the prompt pane's conversation), else
a digest of its system prompt and first user message, which every later turn repeats. The router
remembers, per session, the endpoint that last answered it and about how many tokens that slot
holds (the prompt the router sent plus the answer); it forgets the least recently used session
past `affinity.max_sessions` and any idle for longer than `affinity.idle_ttl_s`. It also counts,
per endpoint, the conversations it holds: sessions that came back for a second turn (a one-shot
request is a session that never returns, and should not weigh on where the next one goes). Which endpoint
the next turn goes to is the policy's call (`adaptive`, on predicted cost; policies/adaptive.py).
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict
from dataclasses import dataclass

from zeta_console.router.candidates import SessionHint
from zeta_console.router.frozen import fast_constructor
from zeta_console.router.requests import AnyRequest, ChatRequest, GenerateRequest
from zeta_console.settings import Affinity

NEW_SESSION = "new session (or forgotten as least recently used)"
_new_hint = fast_constructor(SessionHint)  # one per decision of a conversation (router/frozen.py): every field given


def session_key(request: AnyRequest) -> str | None:
    """The request's session: its explicit one, else a digest of its system prompt and first user
    message; None for requests that are not conversations (embeddings, a chat without a question,
    generate calls without an explicit session)."""
    if isinstance(request, ChatRequest | GenerateRequest) and request.session:
        return "id:" + request.session
    if not isinstance(request, ChatRequest):
        return None
    system = next((str(m.get("content") or "") for m in request.messages if m.get("role") == "system"), "")
    question = next((str(m.get("content") or "") for m in request.messages if m.get("role") == "user"), None)
    if question is None:
        return None
    digest = hashlib.blake2b(f"{system}\0{question}".encode(), digest_size=8).hexdigest()
    return "opening:" + digest


@dataclass
class _Holding:
    endpoint: str
    tokens: int  # what the endpoint's slot holds after the last turn: prompt + answer
    used_at: float  # monotonic
    turns: int  # answered so far

    @property
    def conversation(self) -> bool:
        return self.turns > 1


class SessionTable:
    """Session -> the endpoint holding its prefix, LRU-bounded, forgotten after an idle TTL."""

    def __init__(self, settings: Affinity) -> None:
        self._settings = settings
        self._held: OrderedDict[str, _Holding] = OrderedDict()
        self._conversations: Counter[str] = Counter()  # endpoint -> sessions it holds that came back
        self._first_turns: Counter[str] = Counter()  # endpoint -> sessions it holds that have not (yet)
        self._sessions = 0  # sessions ever seen ...
        self._returned = 0  # ... and those that came back for a second turn

    def __len__(self) -> int:
        return len(self._held)

    def hint(self, key: str, prompt_tokens: int, now: float) -> SessionHint:
        """What a policy needs to know about `key` for a request of `prompt_tokens`."""
        margin = self._settings.margin
        holding = self._held.get(key)
        if holding is None:
            return _new_hint(key=key, holder=None, cached_tokens=0, margin=margin, unheld=NEW_SESSION, held=self._expected_load())
        idle_s = now - holding.used_at
        if idle_s > self._settings.idle_ttl_s:
            self._forget(key)
            ttl = self._settings.idle_ttl_s
            why = f"forgotten: idle {idle_s:.0f} s > {ttl:g} s (affinity.idle_ttl_s)"
            return _new_hint(key=key, holder=None, cached_tokens=0, margin=margin, unheld=why, held=self._expected_load())
        cached = min(holding.tokens, prompt_tokens - 1) if prompt_tokens > 1 else 0
        return _new_hint(key=key, holder=holding.endpoint, cached_tokens=max(0, cached), margin=margin, unheld="", held={})

    def _expected_load(self) -> dict[str, float]:
        """Per endpoint, the sessions expected to come back: every conversation, and each first turn
        at the rate sessions have come back so far (one-shot traffic: near 0; chats: near 1)."""
        comes_back = (self._returned + 0.5) / (self._sessions + 1)
        load = {endpoint: float(count) for endpoint, count in self._conversations.items()}
        for endpoint, count in self._first_turns.items():
            load[endpoint] = load.get(endpoint, 0.0) + comes_back * count
        return load

    def remember(self, key: str, endpoint: str, tokens: int, now: float) -> None:
        """`endpoint` answered the session's latest turn and now holds `tokens` of it."""
        turns = self._forget(key).turns + 1 if key in self._held else 1
        self._sessions += turns == 1
        self._returned += turns == 2
        holding = self._held[key] = _Holding(endpoint, tokens, now, turns)
        self._counter(holding)[endpoint] += 1
        while len(self._held) > self._settings.max_sessions:
            self._forget(next(iter(self._held)))

    def _counter(self, holding: _Holding) -> Counter[str]:
        return self._conversations if holding.conversation else self._first_turns

    def _forget(self, key: str) -> _Holding:
        holding = self._held.pop(key)
        counter = self._counter(holding)
        counter[holding.endpoint] -= 1
        if not counter[holding.endpoint]:
            del counter[holding.endpoint]
        return holding

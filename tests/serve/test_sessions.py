"""serve's X-Zeta-Session header names the caller's conversation: the router keeps its turns on
the endpoint caching it, whatever the messages say; without it the opening messages name it."""

from __future__ import annotations

import httpx

from tests.serve.conftest import serving


def chat(question: str) -> dict[str, object]:
    messages = [{"role": "user", "content": question}]
    return {"model": "qwen2.5-coder:7b", "messages": messages, "stream": False, "options": {"num_predict": 4}}


async def test_the_session_header_keys_the_conversation() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        first = await http.post("/api/chat", json=chat("first question"), headers={"X-Zeta-Session": "chat-42"})
        named = await http.post("/api/chat", json=chat("a different opening"), headers={"X-Zeta-Session": "chat-42"})
        unnamed = await http.post("/api/chat", json=chat("yet another opening"))
        empty = await http.post("/api/chat", json=chat("yet another opening, again"), headers={"X-Zeta-Session": ""})
    assert [response.status_code for response in (first, named, unnamed, empty)] == [200] * 4
    assert "affinity miss: new session" in first.headers["x-zeta-reason"]
    assert "affinity hit: coder@local holds ~" in named.headers["x-zeta-reason"]
    assert "affinity miss: new session" in unnamed.headers["x-zeta-reason"]
    assert "affinity miss: new session" in empty.headers["x-zeta-reason"]  # an empty header is no session


def openai_chat(question: str, **fields: object) -> dict[str, object]:
    return {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": question}], "max_tokens": 4, **fields}


async def test_openai_user_field_keys_the_conversation_and_the_header_wins_over_it() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        first = await http.post("/v1/chat/completions", json=openai_chat("first question", user="alice"))
        same_user = await http.post("/v1/chat/completions", json=openai_chat("a different opening", user="alice"))
        named = {"X-Zeta-Session": "s9"}
        header = await http.post("/v1/chat/completions", json=openai_chat("another opening", user="alice"), headers=named)
        prompt = {"model": "qwen2.5-coder:7b", "prompt": "hi", "max_tokens": 4, "user": "alice"}
        completion = await http.post("/v1/completions", json=prompt)
        not_text = await http.post("/v1/chat/completions", json=openai_chat("q", user=42))
    assert [response.status_code for response in (first, same_user, header, completion)] == [200] * 4
    assert "affinity miss: new session" in first.headers["x-zeta-reason"]
    assert "affinity hit: coder@local holds ~" in same_user.headers["x-zeta-reason"]
    assert "affinity miss: new session" in header.headers["x-zeta-reason"]  # its own session, not alice's
    assert "affinity hit: coder@local" in completion.headers["x-zeta-reason"]  # a completion of alice's joins her session
    assert not_text.status_code == 400 and "error" in not_text.json()

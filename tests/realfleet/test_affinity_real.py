"""Session affinity on real llama.cpp servers (issue 15 on the real fleet): two servers of the tiny
model, one slot each, behind the real router. llama.cpp keeps each prompt it processed (in the slot,
and in host RAM: `cache_ram`) and reuses the longest matching prefix by default (`cache_prompt` is on
unless a request turns it off), reporting the reused part as `timings.cache_n`, which the backend
hands on as `FinalTimings.cached_prompt_tokens`. A chat's later turn is cheap only on a server that
served it before: these tests check that the router sends it there, what the server says it reused,
and the decision's affinity text.

The system prompt is short (~100 tokens: one full prefill takes ~0.3-2 s here) and answers are a
few tokens: CI runs on two shared cores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers, filled
from tests.realfleet.test_openai_router import CHAT, llama_settings, router_over
from zeta_console.backends.types import BackendError, FinalTimings
from zeta_console.router.api import Outcome, RequestRecord
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Adaptive, ModelConfig, Settings, Task

SHORT = {"num_predict": 6, "temperature": 0}
NO_EXPLORING = Adaptive(explore_rate=0.0)
HOLDER, OTHER = "coder@holder", "coder@other"


def system_prompt(topic: str) -> dict[str, str]:
    """~100 tokens of plain English, different per test, so that no server has it cached from another test."""
    lines = [f"Note {i} on {topic}: keep answers short, name the part of the {topic} you mean, and say what you assume." for i in range(3)]
    return {"role": "system", "content": f"{topic.capitalize()}: you are an assistant reviewing it. " + " ".join(lines)}


def pair_settings(holder_url: str, other_url: str) -> Settings:
    return llama_settings(
        {"holder": holder_url, "other": other_url}, (ModelConfig("coder", "coder", ("holder", "other"), CHAT),), adaptive=NO_EXPLORING
    )


async def chat_turn(router: ZetaDynamicRouter, messages: Sequence[Mapping[str, str]]) -> tuple[str, RequestRecord, FinalTimings]:
    """One streamed turn to its end: the answer, the router's record and the server's final timings."""
    parts: list[str] = []
    final: FinalTimings | None = None
    async with router.chat(ChatRequest(messages=list(messages), task=Task.SIMPLE, options=SHORT)) as stream:
        try:
            async for chunk in stream:
                parts.append(chunk.content)
                final = chunk.final or final
        except BackendError:
            pass
    record = stream.record
    assert record is not None and record.outcome is Outcome.OK, record and record.decision.reason
    assert final is not None and final.cached_prompt_tokens is not None  # llama.cpp's timings.cache_n
    return "".join(parts), record, final


def then(history: list[Mapping[str, str]], question: str, reply: str) -> list[Mapping[str, str]]:
    return [*history, {"role": "user", "content": question}, {"role": "assistant", "content": reply}]


async def test_later_turns_stay_on_the_server_that_caches_the_chat_and_it_reuses_the_prefix(llama_servers: LlamaServers) -> None:
    # a second server of the same model (alias) cannot be a shared one: one is shared per set of options
    async with router_over(pair_settings(llama_servers.shared("coder").url, llama_servers.own("coder").url)) as router:
        history: list[Mapping[str, str]] = [system_prompt("design document")]
        asked = "Which section should I read first?"
        reply, first, opening = await chat_turn(router, [*history, {"role": "user", "content": asked}])
        assert "affinity miss: new session" in first.decision.reason
        assert opening.prompt_tokens is not None and opening.prompt_tokens > 80
        assert opening.cached_prompt_tokens is not None and opening.cached_prompt_tokens < 10  # at most the template's opening

        for question in ("And the second?", "Thanks. Anything else?"):
            history = then(history, asked, reply)
            reply, later, timings = await chat_turn(router, [*history, {"role": "user", "content": question}])
            asked = question
            assert later.endpoint == first.endpoint, later.decision.reason
            assert f"affinity hit: {first.endpoint} holds ~" in later.decision.reason
            # the server reused the whole conversation so far (system prompt, questions, answers): only the new question was prefilled
            assert timings.prompt_tokens is not None and timings.cached_prompt_tokens is not None
            assert timings.cached_prompt_tokens >= opening.prompt_tokens
            assert timings.prompt_tokens - timings.cached_prompt_tokens < 30
            estimate = next(c for c in later.decision.candidates if c.endpoint == later.endpoint).terms["cached_tokens"]
            assert 0.5 <= estimate / timings.cached_prompt_tokens <= 2.0, estimate  # the router's estimate (characters / 4)


async def test_a_turn_moves_off_its_cache_server_while_other_clients_keep_it_busy_and_says_why(llama_servers: LlamaServers) -> None:
    holder, other = llama_servers.own("coder"), llama_servers.shared("coder")  # the holder is filled: a server of its own
    async with router_over(pair_settings(holder.url, other.url)) as router:
        history: list[Mapping[str, str]] = [system_prompt("release plan")]
        asked = "What ships first?"
        router.controls.drain(HOLDER)  # another chat of the same length measures the other server, as a fleet up a while has
        _, measured, _ = await chat_turn(router, [system_prompt("budget"), {"role": "user", "content": "What costs most?"}])
        router.controls.undrain(HOLDER)
        router.controls.drain(OTHER)  # the chat opens on the holder
        reply, first, _ = await chat_turn(router, [*history, {"role": "user", "content": asked}])
        router.controls.undrain(OTHER)
        assert (measured.endpoint, first.endpoint) == (OTHER, HOLDER)
        history = then(history, asked, reply)

        # Other clients: one request running on the holder's only slot, four deferred (two at least by the time the router
        # reads them, however many ended first: with three deferred the reading once missed its window in CI). The router
        # expects each to hold the slot about as long as its own turns did, so waiting for them costs 3-5 turns, more than
        # prefilling the whole chat elsewhere (~1 turn) by more than the margin, whatever the machine's speed.
        async with filled(holder.url, 5, max_tokens=200):
            await wait_until(lambda: _busy_with_queue(router, HOLDER), timeout=30, message="the holder's queue read")
            asked = "And what waits for the next release?"
            reply, moved, timings = await chat_turn(router, [*history, {"role": "user", "content": asked}])
        assert moved.endpoint == OTHER, moved.decision.reason
        assert f"affinity moved: {HOLDER} holds ~" in moved.decision.reason
        assert "but costs more than the margin allows; score" in moved.decision.reason and "margin 50%" in moved.decision.reason
        assert f"{HOLDER} server 1/1 busy, " in moved.decision.reason
        assert timings.cached_prompt_tokens is not None and timings.cached_prompt_tokens < 10  # the other server never saw the chat

        history = then(history, asked, reply)
        _, back, timings = await chat_turn(router, [*history, {"role": "user", "content": "Who decides?"}])
        assert back.endpoint == OTHER and f"affinity hit: {OTHER} holds ~" in back.decision.reason  # the cache moved with it
        assert timings.prompt_tokens is not None and timings.cached_prompt_tokens is not None
        assert timings.prompt_tokens - timings.cached_prompt_tokens < 30


def _busy_with_queue(router: ZetaDynamicRouter, endpoint: str) -> bool:
    """The router's last reading of the server: its slot busy and at least two requests deferred."""
    signals = next(e for e in router.snapshot().endpoints if e.id == endpoint).server_signals
    return signals is not None and signals.running == 1 and (signals.waiting or 0) >= 2

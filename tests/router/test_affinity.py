"""Load-aware session affinity through the real router against two emulated hosts that both serve
the coder: a conversation's next turn goes back to the host whose slot caches it (a hit), unless
that host cannot take it or costs more than the margin allows (moved); a new one is a miss."""

from __future__ import annotations

from collections.abc import Mapping

from tests.router.routing import TWO_CODERS, answer, load_both_coders, routed, two_coder_settings
from zeta_console.router.api import RequestRecord
from zeta_console.router.requests import ChatRequest
from zeta_console.settings import Task
from zeta_console.sim.profiles import CODER

SYSTEM = {"role": "system", "content": "You review a long design document. " + "The cache keeps this part. " * 150}


def turn(history: list[Mapping[str, str]], question: str, output_tokens: int = 8) -> ChatRequest:
    messages = [*history, {"role": "user", "content": question}]
    return ChatRequest(messages=messages, task=Task.SIMPLE, target="coder", options={"num_predict": output_tokens})


def host_of(record: RequestRecord) -> str:
    assert record.endpoint is not None
    return record.endpoint.split("@", 1)[1]


def other(host: str) -> str:
    return "b" if host == "a" else "a"


async def test_the_second_turn_goes_back_to_the_host_caching_it_and_prefills_only_the_new_part() -> None:
    async with routed(TWO_CODERS, **two_coder_settings()) as run:
        history: list[Mapping[str, str]] = [SYSTEM]
        reply, first = await answer(run.router, turn(history, "chat one: summarise section 1"))
        assert "affinity miss: new session" in first.decision.reason
        history += [{"role": "user", "content": "chat one: summarise section 1"}, {"role": "assistant", "content": reply}]
        _, second = await answer(run.router, turn(history, "and section 2?"))

        assert second.endpoint == first.endpoint
        assert f"affinity hit: {first.endpoint} holds ~" in second.decision.reason
        chosen = next(c for c in second.decision.candidates if c.endpoint == second.endpoint)
        assert chosen.terms["cached_tokens"] > 1000
        # the host evaluated only the new question (Ollama's prompt_eval_count), and its slot holds the whole conversation
        assert first.prompt_tokens is not None and first.prompt_tokens > 1000
        assert second.prompt_tokens is not None and second.prompt_tokens < 20
        slot = run.fleet.host(host_of(first)).state()["models"][CODER.name]["slot_caches"][0]
        assert slot["cached_tokens"] > first.prompt_tokens and slot["opening"].startswith("You review a long design")


async def test_a_drained_holder_moves_the_session_and_says_why() -> None:
    async with routed(TWO_CODERS, **two_coder_settings()) as run:
        reply, first = await answer(run.router, turn([SYSTEM], "chat two: what is the main risk?"))
        run.router.controls.drain(first.endpoint or "")
        history = [SYSTEM, {"role": "user", "content": "chat two: what is the main risk?"}, {"role": "assistant", "content": reply}]
        _, second = await answer(run.router, turn(history, "and how do we mitigate it?"))
    assert host_of(second) == other(host_of(first))
    assert f"affinity moved: {first.endpoint} holds the session but cannot take it (drained)" in second.decision.reason


async def test_a_busy_holder_loses_the_session_when_waiting_costs_more_than_the_margin() -> None:
    async with routed(TWO_CODERS, **two_coder_settings()) as run:
        router = run.router
        question = "chat three: what does the document conclude?"
        reply, first = await answer(router, turn([SYSTEM], question))
        holder, elsewhere = first.endpoint or "", f"coder@{other(host_of(first))}"
        router.controls.drain(holder)
        await answer(router, turn([], "another chat, measured elsewhere"))  # the other host is loaded and measured
        router.controls.undrain(holder)
        router.controls.drain(elsewhere)
        blocker = router.chat(turn([], "a third chat, holding the holder's only slot"))
        await blocker.__anext__()
        router.controls.undrain(elsewhere)
        history = [SYSTEM, {"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        try:
            _, second = await answer(router, turn(history, "and what should we do next?"))
        finally:
            await blocker.aclose()
    assert second.endpoint == elsewhere, second.decision.reason
    assert f"affinity moved: {holder} holds ~" in second.decision.reason
    assert "costs more than the margin allows" in second.decision.reason and "margin 50%" in second.decision.reason


async def test_a_new_session_is_placed_on_the_host_holding_fewer_conversations() -> None:
    async with routed(TWO_CODERS, **two_coder_settings()) as run:
        await load_both_coders(run)
        question = "chat four: first question"
        reply, first = await answer(run.router, turn([SYSTEM], question))
        history = [SYSTEM, {"role": "user", "content": question}, {"role": "assistant", "content": reply}]
        await answer(run.router, turn(history, "chat four: second question"))  # it came back: a conversation on its host
        _, second = await answer(run.router, turn([SYSTEM], "chat five: another first question"))
    assert host_of(second) == other(host_of(first))
    assert "affinity miss: new session" in second.decision.reason

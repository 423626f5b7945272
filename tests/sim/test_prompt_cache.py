"""Each slot keeps the prompt it last processed: the next turn of a conversation pays prefill only
for what is new, and reports only that in prompt_eval_count (as Ollama does), the cached part in
prompt_eval_cached_count; the true state shows what every slot holds."""

from __future__ import annotations

import httpx
import ollama

from tests.sim.conftest import CODER, fleet_with, paced
from zeta_console.sim import run_fleet
from zeta_console.sim.content import chat_prompt_tokens

SYSTEM = {"role": "system", "content": "You answer questions about a long document. " + "lorem ipsum " * 400}
FIRST = {"role": "user", "content": "chat one: what does the document say about the first chapter?"}
PREFILL_TPS = 4000.0  # ~1.2k prompt tokens: ~0.3 s of prefill, far above timer noise


async def _chat(client: ollama.AsyncClient, messages: list[dict[str, str]]) -> ollama.ChatResponse:
    return await client.chat(model=CODER.name, messages=messages, options={"num_predict": 8})


async def test_a_second_turn_evaluates_only_its_new_messages_and_is_faster() -> None:
    async with run_fleet(fleet_with(paced(CODER, prefill_tps=PREFILL_TPS, decode_tps=2000))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[], keep_alive=-1)
            first = await _chat(client, [SYSTEM, FIRST])
            answer = {"role": "assistant", "content": first.message.content or ""}
            second_question = {"role": "user", "content": "and the second?"}
            second = await _chat(client, [SYSTEM, FIRST, answer, second_question])
            slot = host.state()["models"][CODER.name]["slot_caches"][0]

    whole_first = chat_prompt_tokens([SYSTEM["content"], FIRST["content"]])
    assert first.prompt_eval_count == whole_first
    assert second.prompt_eval_count == chat_prompt_tokens([second_question["content"]])
    assert (second.prompt_eval_duration or 0) * 5 < (first.prompt_eval_duration or 0)
    # the slot now holds the whole second turn and its answer, and shows whose conversation it is
    assert slot["blocks"] == 5
    assert slot["cached_tokens"] > whole_first
    assert slot["opening"].startswith("You answer questions")
    assert "chat one" in slot["opening"]
    assert slot["in_use"] is False


async def test_the_reply_reports_the_cached_tokens_and_an_identical_prompt_still_evaluates_one() -> None:
    async with run_fleet(fleet_with(paced(CODER, prefill_tps=PREFILL_TPS))) as fleet:
        url = fleet.host("local").url
        body = {"model": CODER.name, "messages": [SYSTEM, FIRST], "stream": False, "options": {"num_predict": 4}}
        async with httpx.AsyncClient(base_url=url) as http:
            cold = (await http.post("/api/chat", json=body)).json()
            again = (await http.post("/api/chat", json=body)).json()
    assert "prompt_eval_cached_count" not in cold  # omitted when zero, like every metric
    assert again["prompt_eval_count"] == 1
    assert again["prompt_eval_cached_count"] == cold["prompt_eval_count"] - 1


async def test_a_request_takes_the_free_slot_holding_its_prefix_and_an_unload_clears_the_caches() -> None:
    async with run_fleet(fleet_with(paced(CODER, prefill_tps=PREFILL_TPS), num_parallel=2)) as fleet:
        host = fleet.host("local")
        other = {"role": "user", "content": "chat two: a different question entirely"}
        async with ollama.AsyncClient(host=host.url) as client:
            await _chat(client, [SYSTEM, FIRST])
            await _chat(client, [{"role": "system", "content": "short"}, other])  # the least recently used slot
            again = await _chat(client, [SYSTEM, FIRST, {"role": "assistant", "content": "x"}, {"role": "user", "content": "more"}])
            assert again.prompt_eval_count is not None
            assert again.prompt_eval_count < chat_prompt_tokens(["x", "more"]) + 10
            openings = sorted(cache["opening"] for cache in host.state()["models"][CODER.name]["slot_caches"])
            assert openings[0].startswith("You answer") and openings[1].startswith("short")
            await client.chat(model=CODER.name, messages=[], keep_alive=0)
            assert all(cache["cached_tokens"] == 0 for cache in host.state()["models"][CODER.name]["slot_caches"])

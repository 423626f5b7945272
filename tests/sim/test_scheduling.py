"""Slots, the pending-load queue, loading, eviction, keep-alive and disconnects, seen from outside
and checked against the emulator's true state."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import ollama

from tests.helpers import wait_until
from tests.sim.conftest import CODER, EMBEDDER, REASONER, fleet_with, paced
from zeta_console.sim import run_fleet

HELLO = [{"role": "user", "content": "hello"}]


async def test_parallel_requests_on_one_slot_run_one_after_another() -> None:
    async with run_fleet(fleet_with(paced(CODER, decode_tps=400))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[], keep_alive=-1)  # warm
            busy_seen: list[int] = []

            async def one(index: int) -> tuple[float, float]:
                started = time.perf_counter()
                reply = await client.chat(
                    model=CODER.name, messages=[{"role": "user", "content": f"q{index}"}], options={"num_predict": 20}
                )
                busy_seen.append(host.state()["models"][CODER.name]["busy_slots"])
                return started, started + (reply.total_duration or 0) / 1e9

            tasks = [asyncio.create_task(one(index)) for index in range(4)]
            await wait_until(lambda: host.state()["models"][CODER.name]["waiting"] == 3, message="three waiting for the slot")
            spans = sorted(await asyncio.gather(*tasks), key=lambda span: span[1])
    assert max(busy_seen) <= 1
    # each waits for the one before it: 20 tokens at 400 tok/s = 50 ms of service each
    assert spans[-1][1] - spans[0][0] >= 4 * 0.045


async def test_a_full_pending_queue_answers_503() -> None:
    spec = fleet_with(paced(CODER, load_s=0.5), paced(REASONER), max_queue=1)
    async with run_fleet(spec) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            loading = asyncio.create_task(client.chat(model=CODER.name, messages=HELLO))
            await wait_until(lambda: host.state()["models"][CODER.name]["loading"], message="the coder loading")
            try:
                await client.chat(model=REASONER.name, messages=HELLO, think=False)
                raise AssertionError("expected a 503")
            except ollama.ResponseError as error:
                assert error.status_code == 503
                assert error.error == "server busy, please try again.  maximum pending requests exceeded"
            assert (await loading).done


async def test_one_load_at_a_time_and_load_duration_reports_the_wait() -> None:
    spec = fleet_with(paced(CODER, load_s=0.3), paced(REASONER, load_s=0.3))
    async with run_fleet(spec) as fleet, ollama.AsyncClient(host=fleet.host("local").url) as client:
        first, second = await asyncio.gather(
            client.chat(model=CODER.name, messages=HELLO), client.chat(model=REASONER.name, messages=HELLO, think=False)
        )
        warm = await client.chat(model=CODER.name, messages=HELLO)
    loads = sorted([(first.load_duration or 0) / 1e9, (second.load_duration or 0) / 1e9])
    assert loads[0] >= 0.25 and loads[1] >= loads[0] + 0.2  # the second waited for the first load
    assert (warm.load_duration or 0) / 1e9 < 0.1


async def test_eviction_makes_room_by_shortest_keep_alive() -> None:
    spec = fleet_with(paced(CODER), paced(EMBEDDER), paced(REASONER), max_loaded=2)
    async with run_fleet(spec) as fleet, ollama.AsyncClient(host=fleet.host("local").url) as client:
        await client.chat(model=CODER.name, messages=[], keep_alive="1h")
        await client.embed(model=EMBEDDER.name, input="x", keep_alive="10m")
        await client.chat(model=REASONER.name, messages=[])
        loaded = {model.model for model in (await client.ps()).models}
    assert loaded == {CODER.name, REASONER.name}


async def test_memory_budget_evicts_even_below_max_loaded() -> None:
    spec = fleet_with(paced(CODER), paced(REASONER), memory_bytes=16 * 1024**3)
    async with run_fleet(spec) as fleet, ollama.AsyncClient(host=fleet.host("local").url) as client:
        await client.chat(model=CODER.name, messages=[])
        await client.chat(model=REASONER.name, messages=[])
        assert [model.model for model in (await client.ps()).models] == [REASONER.name]


async def test_load_only_unload_and_keep_alive_expiry() -> None:
    async with (
        run_fleet(fleet_with(paced(CODER), time_scale=10.0)) as fleet,
        ollama.AsyncClient(host=fleet.host("local").url) as client,
    ):
        loaded = await client.chat(model=CODER.name, messages=[])
        assert (loaded.done_reason, loaded.message.content, loaded.eval_count) == ("load", "", None)
        ps = (await client.ps()).models
        assert [model.model for model in ps] == [CODER.name] and ps[0].expires_at is not None
        assert ps[0].context_length == 32768 and ps[0].size == ps[0].size_vram == CODER.resident_bytes
        unloaded = await client.generate(model=CODER.name, keep_alive=0)
        assert unloaded.done_reason == "unload"
        assert (await client.ps()).models == []
        await client.chat(model=CODER.name, messages=HELLO, keep_alive="2s")  # 0.2 s at time x10

        async def nothing_loaded() -> bool:
            return not (await client.ps()).models

        await wait_until(nothing_loaded, timeout=5.0, message="keep_alive expiry")


async def test_infinite_keep_alive_shows_a_far_future_expiry() -> None:
    async with run_fleet(fleet_with(paced(CODER))) as fleet, ollama.AsyncClient(host=fleet.host("local").url) as client:
        await client.chat(model=CODER.name, messages=[], keep_alive=-1)
        (model,) = (await client.ps()).models
    assert model.expires_at is not None and model.expires_at.year > 2200


async def test_closing_a_stream_stops_generation_and_frees_the_slot() -> None:
    async with run_fleet(fleet_with(paced(CODER, decode_tps=20))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            stream = await client.chat(model=CODER.name, messages=HELLO, stream=True)
            first = await anext(stream)
            assert first.message.content
            assert host.state()["models"][CODER.name]["busy_slots"] == 1
            await stream.aclose()
            await wait_until(lambda: host.state()["models"][CODER.name]["busy_slots"] == 0, message="the slot freed")


async def test_a_client_leaving_the_slot_queue_is_forgotten() -> None:
    async with run_fleet(fleet_with(paced(CODER, decode_tps=50))) as fleet:
        host = fleet.host("local")
        async with httpx.AsyncClient(base_url=host.url, timeout=5) as http:
            holder = asyncio.create_task(
                http.post("/api/chat", json={"model": CODER.name, "messages": HELLO, "stream": False, "options": {"num_predict": 10}})
            )
            await wait_until(lambda: host.state()["models"][CODER.name]["busy_slots"] == 1, message="the slot taken")
            waiter = asyncio.create_task(http.post("/api/chat", json={"model": CODER.name, "messages": HELLO}))
            await wait_until(lambda: host.state()["models"][CODER.name]["waiting"] == 1, message="a waiter")
            waiter.cancel()
            await wait_until(lambda: host.state()["models"][CODER.name]["waiting"] == 0, message="the waiter gone")
            assert (await holder).status_code == 200
        await wait_until(lambda: host.state()["models"][CODER.name]["busy_slots"] == 0, message="all slots free")


async def test_streaming_really_streams_and_ttft_matches_the_prediction() -> None:
    coder = paced(CODER, decode_tps=100, prefill_tps=2000)
    async with run_fleet(fleet_with(coder)) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[], keep_alive=-1)
            prompt = "word " * 320  # 400 tokens + the template's 4: ~0.2 s of prefill
            predicted = host.predict_ttft_s(CODER.name, 404)
            started = time.perf_counter()
            arrivals = [
                time.perf_counter() - started
                async for _ in await client.chat(
                    model=CODER.name, messages=[{"role": "user", "content": prompt}], stream=True, options={"num_predict": 30}
                )
            ]
    assert 0.19 <= predicted <= 0.25
    assert abs(arrivals[0] - predicted) <= 0.1 + 0.3 * predicted
    assert arrivals[-1] - arrivals[0] >= 0.2  # 29 more tokens at 100 tok/s, not one burst


async def test_contention_slows_each_stream_but_raises_the_aggregate() -> None:
    coder = replace(paced(CODER, decode_tps=200), num_parallel=4)
    async with (
        run_fleet(fleet_with(coder)) as fleet,
        ollama.AsyncClient(host=fleet.host("local").url) as client,
    ):
        options = {"num_predict": 60}

        def rate(reply: ollama.ChatResponse) -> float:
            return (reply.eval_count or 0) / ((reply.eval_duration or 1) / 1e9)

        alone = rate(await client.chat(model=CODER.name, messages=HELLO, options=options))
        together = await asyncio.gather(
            *(client.chat(model=CODER.name, messages=[{"role": "user", "content": str(i)}], options=options) for i in range(4))
        )
    each = [rate(reply) for reply in together]
    assert max(each) < 0.8 * alone  # 4**-0.55 = 0.47 of the single-stream rate
    assert sum(each) > 1.2 * alone  # 4**0.45 = 1.9 times the single-stream rate

"""Each injected fault, from Python and over the /sim HTTP control API, and that it clears."""

from __future__ import annotations

import time

import httpx
import ollama
import pytest

from tests.helpers import wait_until
from tests.sim.conftest import CODER, fleet_with, paced
from zeta_console.sim import Fault, SimFleet, run_fleet

HELLO = [{"role": "user", "content": "hello"}]
RUNNER_STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error,"
    " check ollama server logs for details"
)


async def test_busy_burst_answers_503_then_recovers(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    fleet.host("local").set_fault(CODER.name, Fault(busy_burst=2))
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as busy:
            await client.chat(model=CODER.name, messages=HELLO)
        assert busy.value.status_code == 503 and "maximum pending requests exceeded" in busy.value.error
    assert (await client.chat(model=CODER.name, messages=HELLO)).done


async def test_error_rate_answers_500_until_cleared(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    host = fleet.host("local")
    host.set_fault(CODER.name, Fault(error_rate=1.0))
    assert host.state()["models"][CODER.name]["error_rate"] == 1.0
    with pytest.raises(ollama.ResponseError) as failed:
        await client.chat(model=CODER.name, messages=HELLO)
    assert (failed.value.status_code, failed.value.error) == (500, RUNNER_STOPPED)
    host.clear_faults(CODER.name)
    assert (await client.chat(model=CODER.name, messages=HELLO)).done


async def test_fail_after_chunks_ends_the_stream_with_an_error_line(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    fleet.host("local").set_fault(CODER.name, Fault(fail_after_chunks=3))
    received = []
    with pytest.raises(ollama.ResponseError) as broken:
        async for part in await client.chat(model=CODER.name, messages=HELLO, stream=True):
            received.append(part)
    assert len(received) == 3 and not any(part.done for part in received)
    assert (broken.value.status_code, broken.value.error) == (-1, RUNNER_STOPPED)
    with pytest.raises(ollama.ResponseError) as whole:
        await client.chat(model=CODER.name, messages=HELLO)
    assert whole.value.status_code == 500


async def test_fail_after_chunks_stream_keeps_status_200(fleet: SimFleet) -> None:
    fleet.host("local").set_fault(CODER.name, Fault(fail_after_chunks=2))
    async with httpx.AsyncClient(base_url=fleet.host("local").url) as http:
        response = await http.post("/api/chat", json={"model": CODER.name, "messages": HELLO})
    lines = response.text.splitlines()
    assert response.status_code == 200 and len(lines) == 3
    assert lines[-1] == '{"error":"' + RUNNER_STOPPED + '"}'


async def test_stall_delays_the_first_token() -> None:
    async with run_fleet(fleet_with(paced(CODER))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[])
            host.set_fault(CODER.name, Fault(stall_s=0.4))
            assert host.predict_ttft_s(CODER.name, 1) >= 0.4
            started = time.perf_counter()
            stream = await client.chat(model=CODER.name, messages=HELLO, stream=True)
            await anext(stream)
            assert time.perf_counter() - started >= 0.38
            await stream.aclose()


async def test_stragglers_take_straggle_factor_times_as_long_to_prefill_and_the_answer_is_unchanged() -> None:
    prompt = [{"role": "user", "content": "word " * 400}]  # ~400 tokens: 0.1 s of prefill at 4,000 tok/s
    async with run_fleet(fleet_with(paced(CODER, prefill_tps=4000))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            # keep_alive 0 unloads the model after each answer, and its prompt cache with it: every request prefills in full
            normal = await client.chat(model=CODER.name, messages=prompt, options={"num_predict": 5}, keep_alive=0)
            host.set_fault(CODER.name, Fault(straggle_rate=1.0, straggle_factor=5.0))
            straggler = await client.chat(model=CODER.name, messages=prompt, options={"num_predict": 5}, keep_alive=0)
            host.set_fault(CODER.name, Fault(straggle_rate=0.0))
            again = await client.chat(model=CODER.name, messages=prompt, options={"num_predict": 5}, keep_alive=0)
    assert (straggler.prompt_eval_duration or 0) > 3.5 * (normal.prompt_eval_duration or 0)
    assert (again.prompt_eval_duration or 0) < 1.5 * (normal.prompt_eval_duration or 0)
    assert straggler.message.content == normal.message.content == host.chat_answer(CODER.name, ["word " * 400], num_predict=5)


async def test_a_host_says_which_chats_it_made_stragglers() -> None:
    async with run_fleet(fleet_with(CODER)) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[{"role": "user", "content": "normal"}], options={"num_predict": 3})
            host.set_fault(CODER.name, Fault(straggle_rate=1.0, straggle_factor=2.0))
            chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "stalled"}]
            await client.chat(model=CODER.name, messages=chat, options={"num_predict": 3})
    assert host.straggled(["be brief", "stalled"])
    assert not host.straggled(["normal"]) and not host.straggled(["stalled"])


@pytest.mark.parametrize(
    ("fields", "problem"),
    [({"straggle_rate": 1.5}, "straggle_rate must be between 0 and 1"), ({"straggle_factor": 0.5}, "straggle_factor must be >= 1")],
)
def test_straggle_fields_are_checked(fields: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault.from_mapping(fields)


async def test_slow_factor_slows_decoding_and_shows_in_state() -> None:
    async with run_fleet(fleet_with(paced(CODER, decode_tps=500))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            options = {"num_predict": 40}
            normal = await client.chat(model=CODER.name, messages=HELLO, options=options)
            host.set_fault(CODER.name, Fault(slow_factor=5.0))
            assert host.state()["models"][CODER.name]["slow_factor"] == 5.0
            slow = await client.chat(model=CODER.name, messages=HELLO, options=options)
            host.clear_faults()
            again = await client.chat(model=CODER.name, messages=HELLO, options=options)
    assert (slow.eval_duration or 0) > 3 * (normal.eval_duration or 0)
    assert (again.eval_duration or 0) < 2 * (normal.eval_duration or 0)


async def test_drop_connection_cuts_the_socket(client: ollama.AsyncClient, fleet: SimFleet) -> None:
    fleet.host("local").set_fault(CODER.name, Fault(drop_connection=True, fail_after_chunks=2))
    received = 0
    with pytest.raises(httpx.RemoteProtocolError):
        async for _ in await client.chat(model=CODER.name, messages=HELLO, stream=True):
            received += 1
    assert received == 2
    fleet.host("local").set_fault(CODER.name, Fault(drop_connection=True))
    with pytest.raises(httpx.RemoteProtocolError):
        await client.chat(model=CODER.name, messages=HELLO)
    fleet.host("local").clear_faults()
    assert (await client.chat(model=CODER.name, messages=HELLO)).done
    await wait_until(lambda: fleet.host("local").state()["models"][CODER.name]["busy_slots"] == 0, message="slots free")


async def test_host_down_refuses_and_host_up_serves_again_on_the_same_port(fleet: SimFleet) -> None:
    host = fleet.host("local")
    url = host.url
    async with ollama.AsyncClient(host=url) as client:
        await client.chat(model=CODER.name, messages=HELLO)
        host.host_down()
        assert host.state()["up"] is False
        with pytest.raises(ConnectionError):
            await client.list()
        await host.host_up()
        assert host.url == url and host.state()["up"] is True
        assert (await client.chat(model=CODER.name, messages=HELLO)).done


async def test_host_down_cuts_streams_in_flight() -> None:
    async with run_fleet(fleet_with(paced(CODER, decode_tps=20))) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            stream = await client.chat(model=CODER.name, messages=HELLO, stream=True)
            await anext(stream)
            host.host_down()
            with pytest.raises(httpx.RemoteProtocolError):
                async for _ in stream:
                    pass
            await wait_until(lambda: host.state()["models"][CODER.name]["busy_slots"] == 0, message="the slot freed")


async def test_http_control_api(fleet: SimFleet) -> None:
    host = fleet.host("local")
    async with httpx.AsyncClient(base_url=host.url) as http:
        state = (await http.get("/sim/state")).json()
        assert state["host"] == "local" and state["up"] and set(state["models"]) == {CODER.name, "qwen3-embedding:4b", "qwen3:14b"}
        assert {"resident", "loading", "slots", "busy_slots", "waiting", "pending_load", "predicted_ttft_s"} <= set(
            state["models"][CODER.name]
        )
        assert (await http.post("/sim/fault", json={"model": CODER.name, "error_rate": 1})).status_code == 200
        assert (await http.post("/api/chat", json={"model": CODER.name, "messages": HELLO, "stream": False})).status_code == 500
        assert (await http.post("/sim/clear", json={})).status_code == 200
        assert (await http.post("/api/chat", json={"model": CODER.name, "messages": HELLO, "stream": False})).status_code == 200
        bad = await http.post("/sim/fault", json={"model": CODER.name, "slow_factr": 2})
        assert bad.status_code == 400 and "slow_factr" in bad.json()["error"]
        assert (await http.post("/sim/fault", json={"model": "nope", "slow_factor": 2})).status_code == 404
        assert (await http.post("/sim/down", json={"for_s": 2})).status_code == 200  # 0.1 s at time x20

    async def answers() -> bool:
        try:
            async with httpx.AsyncClient(base_url=host.url) as http:
                return (await http.get("/api/version")).status_code == 200
        except httpx.ConnectError:
            return False

    await wait_until(lambda: not host.state()["up"], message="host down")
    await wait_until(answers, timeout=5.0, message="host back by itself")

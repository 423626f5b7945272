"""The synchronous official client against a fleet on a background thread."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.helpers import wait_until_sync
from tests.sim.conftest import CODER, fleet_with, paced
from zeta_console.sim import Fault, default_fleet_spec, run_fleet_in_thread


def test_sync_client_chat_stream_embed_and_errors() -> None:
    with run_fleet_in_thread(default_fleet_spec(time_scale=50)) as fleet:
        host = fleet.host("local")
        with ollama.Client(host=host.url) as client:
            assert {model.model for model in client.list().models} >= {CODER.name}
            parts = list(client.chat(model=CODER.name, messages=[{"role": "user", "content": "hi"}], stream=True))
            assert parts[-1].done and parts[-1].eval_count == len(parts) - 1
            assert len(client.embed(model="qwen3-embedding:4b", input="x").embeddings[0]) == 2560
            host.set_fault(CODER.name, Fault(error_rate=1.0))
            with pytest.raises(ollama.ResponseError) as failed:
                client.generate(model=CODER.name, prompt="x")
            assert failed.value.status_code == 500
            host.clear_faults()
            assert client.generate(model=CODER.name, prompt="x").done


def test_sync_stream_close_frees_the_slot_and_host_comes_back() -> None:
    with run_fleet_in_thread(fleet_with(paced(CODER, decode_tps=20))) as fleet:
        host = fleet.host("local")
        with ollama.Client(host=host.url) as client:
            stream = client.chat(model=CODER.name, messages=[{"role": "user", "content": "hi"}], stream=True)
            next(stream)
            stream.close()
            wait_until_sync(lambda: host.state()["models"][CODER.name]["busy_slots"] == 0, message="slot freed")
            host.host_down()
            with pytest.raises(httpx.ConnectError):
                list(client.chat(model=CODER.name, messages=[], stream=True))
            fleet.run(host.host_up())
            assert client.chat(model=CODER.name, messages=[]).done_reason == "load"

"""Fleet files and scenario timelines: what they build, and errors that name file:line:key."""

from __future__ import annotations

from pathlib import Path

import ollama
import pytest

from tests.helpers import wait_until
from tests.sim.conftest import CODER, REASONER, fleet_with, paced
from zeta_console.errors import UserError
from zeta_console.sim import load_fleet_spec, load_scenario, play_scenario, run_fleet

FLEET = """\
time_scale: 4
hosts:
  - name: gpu-a
    num_parallel: 2
    keep_alive: 30s
    models:
      - qwen2.5-coder:7b
      - {name: qwen3:14b, decode_tps: 20}
  - name: cpu
    memory_gb: 8
    models:
      - {name: tiny:1b, capabilities: [completion], decode_tps: 300, load_s: 0.5}
"""


def write(tmp_path: Path, text: str, name: str = "file.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fleet_file_builds_hosts_and_profiles(tmp_path: Path) -> None:
    spec = load_fleet_spec(write(tmp_path, FLEET))
    assert spec.time_scale == 4 and [host.name for host in spec.hosts] == ["gpu-a", "cpu"]
    gpu, cpu = spec.hosts
    assert gpu.num_parallel == 2 and gpu.keep_alive_s == 30.0
    assert gpu.models[0] == CODER and gpu.models[1].decode_tps == 20 and gpu.models[1].thinking_tokens == REASONER.thinking_tokens
    assert cpu.memory_bytes == 8 * 1024**3 and cpu.models[0].capabilities == ("completion",) and cpu.models[0].load_s == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hosts:\n  - name: a\n    models: [qwen3:14b]\n    nmu_parallel: 2\n", ":4: hosts[0].nmu_parallel: unknown key"),
        (
            "hosts:\n  - name: a\n    models:\n      - {name: x:1b, decode_tps: fast}\n",
            ":4: hosts[0].models[0].decode_tps: expected a number, got 'fast'",
        ),
        ("hosts:\n  - name: a\n    models:\n      - llama9:1t\n", ":4: hosts[0].models[0]: unknown built-in model 'llama9:1t'"),
        ("hosts:\n  - name: a\n", ":2: hosts[0].models: required"),
        ("time_scale: 0\nhosts: []\n", ":2: hosts: at least one host is required"),
        ("hosts:\n  - name: a\n    keep_alive: soon\n    models: [qwen3:14b]\n", ":3: hosts[0].keep_alive: expected seconds or a duration"),
        ("hosts: [\n", ":2: yaml:"),
    ],
)
def test_fleet_file_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as raised:
        load_fleet_spec(path)
    assert str(raised.value).startswith(f"{path}{message}") and raised.value.exit_code == 2


def test_scenario_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "- {at: 1s, model: qwen3:14b, fault: {slow_factr: 5}}\n- {at: 2s, down: 1s}\n")
    with pytest.raises(UserError, match=r"file.yaml:1: \[0\].fault: unknown fault field\(s\): slow_factr"):
        load_scenario(path)
    path = write(tmp_path, "- {at: 1s, host: local}\n")
    with pytest.raises(UserError, match=r"file.yaml:1: \[0\]: needs exactly one of: fault, clear, down, unload"):
        load_scenario(path)


async def test_scenario_playback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "- {at: 2s, host: local, model: qwen2.5-coder:7b, fault: {slow_factor: 5}, for: 4s}\n"
        "- {at: 0, down: 2s}\n"
        "- {at: 1s, unload: qwen2.5-coder:7b}\n",
    )
    scenario = load_scenario(path)
    assert [event.action for event in scenario.events] == ["down", "unload", "fault"]
    async with run_fleet(fleet_with(paced(CODER), time_scale=10.0)) as fleet:
        host = fleet.host("local")
        async with ollama.AsyncClient(host=host.url) as client:
            await client.chat(model=CODER.name, messages=[])
        player = __import__("asyncio").create_task(play_scenario(fleet, scenario, time_scale=10.0))
        await wait_until(lambda: not host.state()["up"], message="down at 0 s")
        await wait_until(lambda: host.state()["up"] and not host.state()["models"][CODER.name]["resident"], message="up and unloaded")
        await wait_until(lambda: host.state()["models"][CODER.name]["slow_factor"] == 5.0, message="slow from 2 s")
        await player
        assert host.state()["models"][CODER.name]["slow_factor"] == 1.0  # cleared after 4 s more

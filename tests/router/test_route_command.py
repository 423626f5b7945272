"""`zeta-console route`: the answer on stdout, the decision on stderr, one clear line when Ollama is away."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from tests.router.routing import other_models_spec
from zeta_console.cli import main
from zeta_console.journal import default_journal_path
from zeta_console.sim import Fault, SimFleet, default_fleet_spec, run_fleet_in_thread


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_ollama_is_one_line_and_exit_1(isolated_xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    config = isolated_xdg / "config.yaml"
    config.write_text(f"hosts:\n  - name: local\n    url: http://127.0.0.1:{port}\n")
    status = main(["route", "hello there", "--config", str(config)])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"zeta-console: cannot reach Ollama at http://127.0.0.1:{port} (connection refused):"
        " start `ollama serve`, set OLLAMA_HOST, or try --demo"
    ]


def test_route_demo_streams_the_answer_and_names_the_decision(
    isolated_xdg: Path, fast_demo: None, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["route", "write a python function that reverses a list", "--demo"])
    captured = capsys.readouterr()
    assert status == 0
    assert captured.out.strip()
    decision_line = captured.err.strip().splitlines()[0]
    assert decision_line.startswith("→ coder@local (qwen2.5-coder:7b) [code]: ")
    assert not default_journal_path().exists()  # simulated traffic stays out of the operator's journal


def test_route_json_prints_one_object(isolated_xdg: Path, fast_demo: None, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["route", "prove that there are infinitely many primes", "--task", "complex_reasoning", "--json", "--demo"])
    captured = capsys.readouterr()
    assert status == 0
    result = json.loads(captured.out)
    assert set(result) == {"answer", "thinking", "decision", "ttft_s", "total_s", "outcome"}
    assert result["outcome"] == "ok"
    assert result["answer"]
    assert result["decision"]["task"] == "complex_reasoning"
    assert result["decision"]["tier"] == "reasoner"
    assert result["ttft_s"] <= result["total_s"]


def _config_for(fleet: SimFleet, directory: Path) -> Path:
    config = directory / "config.yaml"
    config.write_text(f"hosts:\n  - name: local\n    url: {fleet.host('local').url}\n")
    return config


def test_route_names_every_endpoint_it_tried_and_why(isolated_xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with run_fleet_in_thread(replace(default_fleet_spec(), time_scale=50.0)) as fleet:
        host = fleet.host("local")
        host.set_fault("qwen2.5-coder:7b", Fault(error_rate=1.0))
        host.set_fault("qwen3:14b", Fault(busy_burst=5))
        status = main(["route", "hello there", "--task", "simple", "--config", str(_config_for(fleet, isolated_xdg))])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith("zeta-console: the request failed: busy: coder@local: model runner has unexpectedly stopped")
    assert "; reasoner@local: server busy" in lines[0]


def test_route_to_a_host_without_the_configured_models_says_what_it_has(isolated_xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with run_fleet_in_thread(replace(other_models_spec(), time_scale=50.0)) as fleet:
        status = main(["route", "hello there", "--config", str(_config_for(fleet, isolated_xdg))])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(lines) == 1
    assert "coder@local missing: not installed on local (it has llama3.1:8b, nomic-embed-text:latest, deepseek-r1:14b)" in lines[0]
    assert "`ollama pull qwen2.5-coder:7b`, edit the config or run `zeta-console init`" in lines[0]

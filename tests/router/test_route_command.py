"""`zeta-console route`: the answer on stdout, the decision on stderr, one clear line when Ollama is away."""

from __future__ import annotations

import functools
import json
import socket
from pathlib import Path

import pytest

from tests.xdg import isolated_xdg  # noqa: F401  (fixture)
from zeta_console import demo
from zeta_console.cli import main
from zeta_console.journal import default_journal_path


@pytest.fixture
def fast_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--demo` with the emulated models 50 times faster than real ones."""
    monkeypatch.setattr(demo, "demo_fleet", functools.partial(demo.demo_fleet, time_scale=50.0))


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
        f"zeta-console: cannot reach Ollama at http://127.0.0.1:{port} (connection refused): start `ollama serve`, set OLLAMA_HOST, or try --demo"
    ]


def test_route_demo_streams_the_answer_and_names_the_decision(isolated_xdg: Path, fast_demo: None, capsys: pytest.CaptureFixture[str]) -> None:
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

"""`zeta-console sim` as a user runs it: a separate process that prints its URL and serves."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from zeta_console.cli import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sim_command_prints_its_url_and_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "zeta_console.cli", "sim", "--port", str(port), "--time-scale", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "qwen3:14b" in line
        assert httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=5).json() == {"version": "0.32.15"}
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in errors


def test_bad_fleet_file_exits_2_with_file_line_key(tmp_path: Path, capsys: object) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("hosts:\n  - name: a\n    models: [qwen3:14b]\n    max_loaded: many\n")
    assert main(["sim", "--fleet", str(fleet)]) == 2
    assert f"{fleet}:4: hosts[0].max_loaded: expected a whole number" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_a_port_in_use_is_a_user_error(capsys: object) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["sim", "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen" in capsys.readouterr().err  # type: ignore[attr-defined]

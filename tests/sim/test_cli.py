"""`zeta-console sim` as a user runs it: a separate process that prints its URL and serves."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

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


def test_a_port_in_use_is_one_line_naming_the_address(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["sim", "--port", str(port)]) == 2
    assert (
        capsys.readouterr().err == f"zeta-console: emulated host 'local' cannot listen on http://127.0.0.1:{port}: Address already in use\n"
    )


def test_a_port_out_of_range_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", "--port", "99999"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "zeta-console sim: error: argument --port: '99999' is not a port number (0-65535)"


def test_hosts_numbered_past_the_last_port_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("hosts:\n  - name: a\n    models: [qwen3:14b]\n  - name: b\n    models: [qwen3:14b]\n")
    assert main(["sim", "--fleet", str(fleet), "--port", "65535"]) == 2
    assert capsys.readouterr().err == "zeta-console: host 'b' would listen on port 65536, beyond 65535: choose a lower --port\n"

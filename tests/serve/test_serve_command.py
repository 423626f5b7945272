"""`zeta-console serve --demo` as a user runs it: prints its URL, answers, logs each request, exits cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import ollama
import pytest


def isolated_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


def run_serve(tmp_path: Path, *argv: str) -> tuple[str, str]:
    """Start `zeta-console ARGV`, list the models through it, stop it with Ctrl-C; its URL and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "zeta_console.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=isolated_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        listing = ollama.Client(host=url, timeout=10).list()
        assert "zeta:auto" in {model.model for model in listing.models}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr
    return url, stderr


def test_serve_demo_prints_its_url_answers_logs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    _, stderr = run_serve(tmp_path, "serve", "--demo", "--listen", "127.0.0.1:0")
    logged = [line for line in stderr.splitlines() if '"GET /api/tags"' in line]
    assert len(logged) == 1
    assert " 127.0.0.1 " in logged[0] and " status=200 " in logged[0] and " total=" in logged[0]


def test_serve_access_log_can_be_turned_off(tmp_path: Path) -> None:
    _, stderr = run_serve(tmp_path, "serve", "--demo", "--listen", "127.0.0.1:0", "--no-access-log")
    assert '"GET /api/tags"' not in stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("flag", [[], ["--listen", "127.0.0.1:0"]], ids=["from-config", "flag-wins"])
def test_serve_listens_where_the_configuration_says_unless_the_flag_says_otherwise(tmp_path: Path, flag: list[str]) -> None:
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"serve:\n  listen: 127.0.0.1:{port}\n")
    url, _ = run_serve(tmp_path, "serve", "--config", str(config), *flag)
    assert (url == f"http://127.0.0.1:{port}") == (not flag), url


def test_global_options_before_serve_are_serves_options(tmp_path: Path) -> None:
    port = _free_port()
    url, stderr = run_serve(tmp_path, "--demo", "--listen", f"127.0.0.1:{port}", "serve", "--no-access-log")
    assert url == f"http://127.0.0.1:{port}"
    assert f"Ollama API at {url} (simulated fleet)" in stderr


def test_serve_on_a_busy_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "zeta_console.cli", "serve", "--demo", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=isolated_env(tmp_path),
            cwd=tmp_path,
        )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"zeta-console: cannot listen on 127.0.0.1:{port}: Address already in use"]

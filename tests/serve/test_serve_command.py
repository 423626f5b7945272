"""`zeta-console serve --demo` as a user runs it: prints its URL, answers, exits cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import ollama
import pytest


def test_serve_demo_prints_its_url_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    process = subprocess.Popen(
        [sys.executable, "-m", "zeta_console.cli", "serve", "--demo", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
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
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("flag", [[], ["--listen", "127.0.0.1:0"]], ids=["from-config", "flag-wins"])
def test_serve_listens_where_the_configuration_says_unless_the_flag_says_otherwise(tmp_path: Path, flag: list[str]) -> None:
    port = _free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"serve:\n  listen: 127.0.0.1:{port}\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = [sys.executable, "-m", "zeta_console.cli", "serve", "--config", str(config), *flag]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert (url == f"http://127.0.0.1:{port}") == (not flag), url
        ollama.Client(host=url, timeout=10).list()  # answered once the loop runs, so Ctrl-C is handled
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

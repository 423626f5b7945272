"""The real `zeta-console --demo real` binary in a real terminal (tmux): the console over real llama.cpp
servers of the tiny model passes the emulated demo's smoke checks, and ctrl+q leaves no server behind."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.ui.terminal import BINARY, CHECKOUT, tmux
from tests.ui.test_smoke import screen, wait_for_screen

SPARK_BARS = "▂▃▄▅▆▇█"  # an empty sparkline is a row of ▁


@pytest.fixture
def real_console(tmp_path: Path, tiny_model: Path, tmux_server: None) -> Iterator[str]:
    session = f"zeta-smoke-real-{os.getpid()}"
    (tmp_path / "config.yaml").write_text("load_generator:\n  rate_per_s: 0\n")
    env = f"PYTHONPATH={CHECKOUT} XDG_CONFIG_HOME={tmp_path}/cfg XDG_STATE_HOME={tmp_path}/state"
    # unset: a COLUMNS/LINES that pytest's environment passed to the tmux server would win over the pane's size
    command = f"cd {tmp_path} && unset COLUMNS LINES && {env} exec {BINARY} --demo real"
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "44", command)  # wide: cards with sparklines
    try:
        yield session
    finally:
        tmux("kill-session", "-t", session, check=False)


def llama_servers_of(session: str) -> list[psutil.Process]:
    console = psutil.Process(int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()))
    return [child for child in console.children() if "zeta_console.realfleet.llama_server" in " ".join(child.cmdline())]


def card_has_sparkline(text: str, endpoint: str) -> bool:
    """The TTFT row under `endpoint`'s card title has bars."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        column = line.find(f"╭─ {endpoint}")
        if column >= 0:
            rows = [row[column: column + 48] for row in lines[index + 1: index + 6]]
            return any("TTFT" in row and any(bar in row for bar in SPARK_BARS) for row in rows)
    return False


def test_the_real_demo_answers_with_the_model_and_stops_its_servers(real_console: str) -> None:
    wait_for_screen(real_console, "REAL · tiny models")
    wait_for_screen(real_console, lambda text: text.count("UP llama.cpp") == 2 and "embedder · qwen3-embedding:4b" in text)
    assert all(f"─ {host}" in screen(real_console) for host in ("llama-a", "llama-b", "sim"))  # each card's host
    servers = llama_servers_of(real_console)
    assert len(servers) == 2
    tmux("send-keys", "-t", real_console, "/code reverse a list in python", "Enter")
    wait_for_screen(real_console, "› reverse a list in python")
    wait_for_screen(real_console, "→ smollm2-135m-instruct @ coder")  # the answer's label: the real model
    wait_for_screen(real_console, lambda text: re.search(r"\scode\s.*\sok(\s|$)", text) is not None)  # its decision log row
    assert "[simulated" not in screen(real_console)
    wait_for_screen(real_console, lambda text: card_has_sparkline(text, "coder · smollm2-135m-instruct"))
    tmux("send-keys", "-t", real_console, "F1")
    wait_for_screen(real_console, "app.quit")  # the help screen lists the keys
    tmux("send-keys", "-t", real_console, "Escape")
    wait_for_screen(real_console, lambda text: "app.quit" not in text)
    tmux("send-keys", "-t", real_console, "C-q")
    gone, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive, f"llama.cpp servers left running: {[process.pid for process in alive]}"


def test_a_closed_terminal_stops_the_servers_too(real_console: str) -> None:
    wait_for_screen(real_console, lambda text: text.count("UP llama.cpp") == 2)
    servers = llama_servers_of(real_console)
    assert len(servers) == 2
    tmux("kill-session", "-t", real_console)  # SIGHUP, as when the terminal window is closed
    gone, alive = psutil.wait_procs(servers, timeout=30)
    assert not alive, f"llama.cpp servers left running: {[process.pid for process in alive]}"

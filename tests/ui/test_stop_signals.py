"""SIGTERM and SIGHUP end the real `zeta-console` binary in a real terminal (tmux) as ctrl+q does, even
when its parent left both signals ignored (nohup, some supervisors: exec keeps SIG_IGN), which used to
leave a console whose terminal was gone running headless, deaf to SIGTERM until SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until_sync
from tests.ui.test_smoke import BINARY, CHECKOUT, screen, tmux, wait_for_screen
from tests.ui.test_smoke_real import llama_servers_of

IGNORED_BY_PARENT = "trap '' HUP TERM; "


def start_console(tmp_path: Path, session: str, demo: str) -> psutil.Process:
    (tmp_path / "config.yaml").write_text("load_generator:\n  rate_per_s: 0\n")
    env = f"PYTHONPATH={CHECKOUT} XDG_CONFIG_HOME={tmp_path}/cfg XDG_STATE_HOME={tmp_path}/state"
    command = f"cd {tmp_path} && {IGNORED_BY_PARENT}unset COLUMNS LINES && {env} exec {BINARY} {demo}"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", command)
    tmux("set-option", "-t", session, "remain-on-exit", "on")  # the pane keeps the exit status
    return psutil.Process(int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()))


@pytest.fixture
def session() -> Iterator[str]:
    name = f"zeta-signals-{os.getpid()}"
    try:
        yield name
    finally:
        consoles = [psutil.Process(pid) for pid in _pane_pids(name) if psutil.pid_exists(pid)]
        subprocess.run(["tmux", "kill-session", "-t", name], check=False)
        for console in psutil.wait_procs(consoles, timeout=5)[1]:  # one that ignored it all (a failing run)
            console.kill()


def _pane_pids(session: str) -> list[int]:
    listed = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True, text=True)
    return [int(pid) for pid in listed.stdout.split()] if listed.returncode == 0 else []


def ended(process: psutil.Process, timeout: float) -> bool:
    gone, _ = psutil.wait_procs([process], timeout=timeout)
    return bool(gone)


def test_sigterm_stops_the_console_and_gives_the_terminal_back(tmp_path: Path, session: str) -> None:
    console = start_console(tmp_path, session, "--demo")
    wait_for_screen(session, "SIMULATED")
    console.send_signal(signal.SIGTERM)
    assert ended(console, timeout=15), "the console ignored SIGTERM"
    wait_until_sync(lambda: tmux("display-message", "-p", "-t", session, "#{pane_dead}").strip() == "1", timeout=5)
    assert tmux("display-message", "-p", "-t", session, "#{pane_dead_status}").strip() == str(128 + signal.SIGTERM)
    assert "SIMULATED" not in screen(session)  # the alternate screen was left: the terminal is restored


def test_sigterm_stops_the_real_demo_and_its_servers(tmp_path: Path, session: str, tiny_model: Path) -> None:
    console = start_console(tmp_path, session, "--demo real")
    wait_for_screen(session, lambda text: text.count("UP llama.cpp") == 2)
    servers = llama_servers_of(session)
    assert len(servers) == 2
    console.send_signal(signal.SIGTERM)
    assert ended(console, timeout=15), "the console ignored SIGTERM"
    _, alive = psutil.wait_procs(servers, timeout=15)
    assert not alive, f"llama.cpp servers left running: {[process.pid for process in alive]}"


def test_a_closed_terminal_stops_the_real_demo_even_with_sighup_ignored(tmp_path: Path, session: str, tiny_model: Path) -> None:
    console = start_console(tmp_path, session, "--demo real")
    wait_for_screen(session, lambda text: text.count("UP llama.cpp") == 2)
    servers = llama_servers_of(session)
    assert len(servers) == 2
    tmux("kill-session", "-t", session)  # the terminal goes: SIGHUP
    assert ended(console, timeout=15), "the console outlived its terminal"
    _, alive = psutil.wait_procs(servers, timeout=15)
    assert not alive, f"llama.cpp servers left running: {[process.pid for process in alive]}"

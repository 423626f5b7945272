"""SIGTERM and SIGHUP end the real `zeta-console` binary in a real terminal (tmux) as ctrl+q does, even
when its parent left both signals ignored (nohup, some supervisors: exec keeps SIG_IGN), which used to
leave a console whose terminal was gone running headless, deaf to SIGTERM until SIGKILL.

The terminals live on a tmux server of this module's own, kept up by a placeholder session, so other
tests' sessions and the default server's exit when its last session ends cannot race these."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until_sync
from tests.ui.test_smoke import BINARY, CHECKOUT

IGNORED_BY_PARENT = "trap '' HUP TERM; "
SOCKET = f"zeta-signals-{os.getpid()}"
_names = itertools.count()


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=check, capture_output=True, text=True).stdout


@pytest.fixture(scope="module", autouse=True)
def tmux_server() -> Iterator[None]:
    tmux("new-session", "-d", "-s", "keeper", "cat")
    try:
        yield
    finally:
        tmux("kill-server", check=False)


class Console:
    """The console binary in a tmux pane whose shell ignored SIGHUP and SIGTERM before exec."""

    def __init__(self, tmp_path: Path, demo: str) -> None:
        self.session = f"console-{next(_names)}"
        (tmp_path / "config.yaml").write_text("load_generator:\n  rate_per_s: 0\n")
        env = f"PYTHONPATH={CHECKOUT} XDG_CONFIG_HOME={tmp_path}/cfg XDG_STATE_HOME={tmp_path}/state"
        command = f"cd {tmp_path} && {IGNORED_BY_PARENT}unset COLUMNS LINES && {env} exec {BINARY} {demo}"
        tmux("new-session", "-d", "-s", self.session, "-x", "120", "-y", "36", command)
        tmux("set-option", "-t", self.session, "remain-on-exit", "on")  # the pane keeps the exit status
        self.process = psutil.Process(int(tmux("display-message", "-p", "-t", self.session, "#{pane_pid}").strip()))

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, seen: Callable[[str], bool]) -> None:
        try:
            wait_until_sync(lambda: seen(self.screen()), timeout=90, interval=0.05, message="the screen")
        except AssertionError as error:
            raise AssertionError(f"{error}; the screen was:\n{self.screen()}") from None

    def llama_servers(self) -> list[psutil.Process]:
        return [child for child in self.process.children() if "zeta_console.realfleet.llama_server" in " ".join(child.cmdline())]

    def ended(self, timeout: float = 15) -> bool:
        """Gone, or a zombie its tmux server has not reaped yet: either way it has exited."""
        def gone() -> bool:
            try:
                return self.process.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        try:
            wait_until_sync(gone, timeout=timeout, interval=0.05)
        except AssertionError:
            return False
        return True

    def exit_status(self) -> str:
        """The pane's exit status (tmux may mark the pane dead at the pty's end, before it has reaped the process)."""
        def status() -> str:
            return tmux("display-message", "-p", "-t", self.session, "#{?pane_dead,#{pane_dead_status},}").strip()

        wait_until_sync(lambda: status() != "", timeout=5, message="the pane's exit status")
        return status()

    def close(self) -> None:
        tmux("kill-session", "-t", self.session, check=False)
        if not self.ended(timeout=5):  # one that ignored it all (a failing run)
            self.process.kill()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Callable[[str], Console]]:
    started: list[Console] = []

    def start(demo: str) -> Console:
        started.append(Console(tmp_path, demo))
        return started[-1]

    yield start
    for each in started:
        each.close()


def servers_stop(servers: list[psutil.Process]) -> None:
    assert len(servers) == 2
    _, alive = psutil.wait_procs(servers, timeout=15)
    assert not alive, f"llama.cpp servers left running: {[process.pid for process in alive]}"


def test_sigterm_stops_the_console_and_gives_the_terminal_back(console: Callable[[str], Console]) -> None:
    demo = console("--demo")
    demo.wait_for(lambda text: "SIMULATED" in text)
    demo.process.send_signal(signal.SIGTERM)
    assert demo.ended(), "the console ignored SIGTERM"
    assert demo.exit_status() == str(128 + signal.SIGTERM), demo.screen()
    assert "SIMULATED" not in demo.screen()  # the alternate screen was left: the terminal is restored


def test_sigterm_stops_the_real_demo_and_its_servers(console: Callable[[str], Console], tiny_model: Path) -> None:
    demo = console("--demo real")
    demo.wait_for(lambda text: text.count("UP llama.cpp") == 2)
    servers = demo.llama_servers()
    demo.process.send_signal(signal.SIGTERM)
    assert demo.ended(), "the console ignored SIGTERM"
    servers_stop(servers)


def test_a_closed_terminal_stops_the_console_even_with_sighup_ignored(console: Callable[[str], Console]) -> None:
    """Once the terminal is gone Textual's writer thread dies on a failed write and its full queue can
    block the loop for good (seen: a console wedged in Queue.put): the stop must not need the loop."""
    demo = console("--demo")
    demo.wait_for(lambda text: "SIMULATED" in text)
    tmux("kill-session", "-t", demo.session)  # the terminal goes: SIGHUP
    assert demo.ended(), "the console outlived its terminal"


def test_a_closed_terminal_stops_the_real_demo_even_with_sighup_ignored(console: Callable[[str], Console], tiny_model: Path) -> None:
    demo = console("--demo real")
    demo.wait_for(lambda text: text.count("UP llama.cpp") == 2)
    servers = demo.llama_servers()
    tmux("kill-session", "-t", demo.session)  # the terminal goes: SIGHUP
    assert demo.ended(), "the console outlived its terminal"
    servers_stop(servers)

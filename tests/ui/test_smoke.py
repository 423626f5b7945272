"""The real `zeta-console --demo` binary in a real terminal (tmux): first frame, a prompt, its answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until_sync

BINARY = Path(sys.executable).with_name("zeta-console")

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="the smoke test drives the binary through tmux")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def demo_console(tmp_path: Path) -> Iterator[str]:
    session = f"zeta-smoke-{os.getpid()}"
    (tmp_path / "config.yaml").write_text("load_generator:\n  rate_per_s: 0\n")
    env = f"XDG_CONFIG_HOME={tmp_path}/cfg XDG_STATE_HOME={tmp_path}/state"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", f"cd {tmp_path} && {env} exec {BINARY} --demo")
    try:
        yield session
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def test_demo_binary_opens_and_answers_a_prompt(demo_console: str) -> None:
    wait_until_sync(lambda: "SIMULATED" in screen(demo_console), timeout=30, interval=0.05, message="the first frame")
    wait_until_sync(lambda: screen(demo_console).count("UP") >= 3, timeout=30, interval=0.05, message="the fleet up")
    tmux("send-keys", "-t", demo_console, "-l", "/simple what is the capital of France")
    # Enter in the same burst as the text can arrive as one chunk: wait for the text to echo first
    wait_until_sync(lambda: "capital of France" in screen(demo_console), timeout=30, interval=0.05, message="the typed prompt")
    tmux("send-keys", "-t", demo_console, "Enter")
    wait_until_sync(lambda: "→ qwen" in screen(demo_console), timeout=60, interval=0.05, message="the answer's route")
    wait_until_sync(lambda: " ok " in screen(demo_console), timeout=60, interval=0.05, message="the logged outcome")
    text = screen(demo_console)
    assert "prompt" in text and "simple" in text  # the decision log row
    tmux("send-keys", "-t", demo_console, "C-q")

"""The real `zeta-console --demo` binary in a real terminal (tmux): first frame, a prompt, its answer."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until_sync
from tests.ui.terminal import BINARY, CHECKOUT, tmux


@pytest.fixture
def demo_console(tmp_path: Path, tmux_server: None) -> Iterator[str]:
    session = f"zeta-smoke-{os.getpid()}"
    (tmp_path / "config.yaml").write_text("load_generator:\n  rate_per_s: 0\n")
    env = f"PYTHONPATH={CHECKOUT} XDG_CONFIG_HOME={tmp_path}/cfg XDG_STATE_HOME={tmp_path}/state"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", f"cd {tmp_path} && {env} exec {BINARY} --demo")
    try:
        yield session
    finally:
        tmux("kill-session", "-t", session, check=False)


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def simple_rows_ok(text: str) -> int:
    """The /simple prompts' rows (the load generator is off, so they are the only simple ones)."""
    return sum(1 for line in text.splitlines() if re.search(r"\ssimple\s.*\sok(\s|$)", line))


def wait_for_screen(session: str, needle: str | Callable[[str], bool], timeout: float = 60) -> None:
    def seen() -> bool:
        text = screen(session)
        return needle in text if isinstance(needle, str) else needle(text)

    try:
        wait_until_sync(seen, timeout=timeout, interval=0.05, message=repr(needle))
    except AssertionError as error:
        raise AssertionError(f"{error}; the screen was:\n{screen(session)}") from None


def test_demo_binary_opens_and_answers_a_prompt(demo_console: str) -> None:
    wait_for_screen(demo_console, "SIMULATED")
    # text and Enter in one burst, as a person pasting or a script sends them: the Enter used to be lost
    tmux("send-keys", "-t", demo_console, "/simple what is the capital of France", "Enter")
    wait_for_screen(demo_console, "› what is the capital of France")  # the whole prompt, in the transcript
    wait_for_screen(demo_console, "→ qwen")  # the answer's label
    wait_for_screen(demo_console, "[simulated qwen")  # the answer
    wait_for_screen(demo_console, lambda text: simple_rows_ok(text) == 1)  # its row in the decision log
    tmux("send-keys", "-t", demo_console, "and of Spain", "Enter")  # a second turn, in the same conversation
    wait_for_screen(demo_console, "› and of Spain")
    wait_for_screen(demo_console, lambda text: simple_rows_ok(text) == 2)
    tmux("send-keys", "-t", demo_console, "C-q")

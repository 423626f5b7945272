"""The terminal tests' tmux: one server of this test session's own, kept up by a placeholder session.
tmux's server exits when its last session ends, so on a shared server a test ending its session raced
the next test's `new-session` ("server exited unexpectedly"); on this one the placeholder outlives them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BINARY = Path(sys.executable).with_name("zeta-console")
CHECKOUT = Path(__file__).resolve().parents[2]  # the code under test, whoever started the tmux server
SOCKET = f"zeta-tests-{os.getpid()}"


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], check=check, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def tmux_server() -> Iterator[None]:
    tmux("new-session", "-d", "-s", "keeper", "cat")
    try:
        yield
    finally:
        tmux("kill-server", check=False)

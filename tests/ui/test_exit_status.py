"""The console's exit status: a crash must not look like a clean quit to a script or a service manager."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The real entry point, in a headless driver, with the app made to fail on its first frame.
CRASHING_CONSOLE = """
import sys
from zeta_console.cli import main
from zeta_console.ui.app import ZetaConsole

def crash(self):
    raise RuntimeError("boom on mount")

ZetaConsole.on_mount = crash
sys.exit(main(["--config", sys.argv[1]]))
"""


def test_a_crash_exits_non_zero(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("hosts:\n  - name: local\n    url: http://127.0.0.1:9\n")
    env = {
        **os.environ,
        "TEXTUAL_DRIVER": "textual.drivers.headless_driver:HeadlessDriver",
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    command = [sys.executable, "-c", CRASHING_CONSOLE, str(config)]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "boom on mount" in done.stdout + done.stderr
    assert done.returncode == 1

"""Every file in tests/configs/bad/ is refused by `zeta-console check-config` exactly as its
`# expect: LINE: key: problem` comments say: one line per mistake, all of them, exit 2, no traceback.

Each file runs in its own process with a memory cap, so a file that made the reader blow up
(an alias bomb) fails its test instead of the machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

BAD = Path(__file__).resolve().parent / "configs" / "bad"
FILES = sorted(BAD.glob("*.yaml"))
MEMORY_CAP_BYTES = 1 << 30


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def expectations(path: Path) -> list[str]:
    prefix = "# expect: "
    return [line[len(prefix):] for line in path.read_text().splitlines() if line.startswith(prefix)]


def test_the_corpus_is_large_and_every_file_says_what_to_expect() -> None:
    assert len(FILES) >= 50
    assert all(expectations(path) for path in FILES)


@pytest.mark.usefixtures("isolated_xdg")
@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_a_bad_config_is_refused_with_one_line_per_mistake(path: Path) -> None:
    script = Path(sys.executable).parent / "zeta-console"  # the installed entry point
    result = subprocess.run(
        [str(script), "check-config", path.name], cwd=BAD, capture_output=True, text=True, timeout=30, preexec_fn=_cap_memory
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    expected = [f"zeta-console: {path.name}:{expect}" for expect in expectations(path)]
    assert len(lines) == len(expected), result.stderr
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), f"{line!r} does not start with {start!r}"

"""The package ships every subpackage and the theme files."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "zeta_console").rglob("__init__.py")
    }
    missing = on_disk - listed
    assert not missing, f"add these to [tool.setuptools] packages: {sorted(missing)}"
    assert "zeta_console.themes" in listed


def test_readme_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = [line for line in text.splitlines() if line.startswith(("pip install", "zeta-console"))]
    assert blocks[:2] == [
        "pip install . && zeta-console --demo",
        "pip install '.[test]' && pytest",
    ]

"""Dependencies point downwards: the router and everything below it never import the UI, and
the emulator and the `serve` endpoint share Ollama's wire rules without importing each other.
The YAML reader the configuration, the emulator and the benchmark share sits below all of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zeta_console"

FORBIDDEN = {
    "router": ("zeta_console.ui", "zeta_console.serve", "zeta_console.sim", "zeta_console.benchmark"),
    "backends": ("zeta_console.ui", "zeta_console.serve", "zeta_console.sim", "zeta_console.router.router"),
    "ollama_api": ("zeta_console.ui", "zeta_console.serve", "zeta_console.sim", "zeta_console.router"),
    "sim": ("zeta_console.ui", "zeta_console.serve", "zeta_console.router"),
    "serve": ("zeta_console.ui", "zeta_console.sim"),
}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN[layer])
    ]
    assert not offences, "\n".join(offences)


def test_the_shared_yaml_reader_imports_only_the_error_type() -> None:
    own = {module for module in imported_modules(PACKAGE / "yaml_source.py") if module.startswith("zeta_console")}
    assert own == {"zeta_console.errors"}

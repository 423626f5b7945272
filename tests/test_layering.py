"""Dependencies point downwards: the router and everything below it never import the UI, and
the emulator and the `serve` endpoint share Ollama's wire rules without importing each other.
The YAML reader the configuration, the emulator and the benchmark share sits below all of them.
Model servers are reached through the backend seam: only `backends/` uses a server's client
library, and `backends/` knows nothing of the router."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "zeta_console"

FORBIDDEN = {
    "router": ("zeta_console.ui", "zeta_console.serve", "zeta_console.sim", "zeta_console.benchmark"),
    "backends": ("zeta_console.ui", "zeta_console.serve", "zeta_console.sim", "zeta_console.router"),
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


# Outside backends/, the `ollama` client library is used only to validate request bodies with its
# pydantic models (serve/translate.py checks messages and tools with them) and by the benchmark to
# load the emulator's models before a run (the emulator is an Ollama server).
CLIENT_LIBRARY_USERS = {"serve/translate.py", "benchmark/contenders.py"}


def test_only_the_backends_speak_to_model_servers_through_their_client() -> None:
    offences = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "backends" and path.relative_to(PACKAGE).as_posix() not in CLIENT_LIBRARY_USERS
        for module in imported_modules(path)
        if module == "ollama" or module.startswith("ollama.")
    ]
    assert not offences, "\n".join(offences)

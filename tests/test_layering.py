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


def router_imports(path: Path) -> set[str]:
    """The router modules `path` imports, TYPE_CHECKING blocks and function bodies included."""
    return {module for module in imported_modules(path) if module.startswith("zeta_console.router.")}


def test_router_modules_import_each_other_without_cycles() -> None:
    modules = {
        "zeta_console." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (PACKAGE / "router").rglob("*.py")
    }
    graph = {name: {module for module in router_imports(path) if module in modules and module != name} for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import cycle: " + " -> ".join((*path[path.index(name):], name))
        if name in done:
            return
        for module in sorted(graph[name]):
            visit(module, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_the_router_never_imports_the_journal() -> None:
    """The journal is a listener the composition root subscribes; the router knows only listeners."""
    offences = [
        str(path.relative_to(PACKAGE)) for path in (PACKAGE / "router").rglob("*.py") if "zeta_console.journal" in imported_modules(path)
    ]
    assert not offences


def test_the_journal_module_holds_storage_only() -> None:
    """`zeta-console history` is a command, in the CLI layer; journal.py is the store and its reader."""
    assert not {"argparse", "sys"} & imported_modules(PACKAGE / "journal.py")


def test_one_composition_root_builds_routers() -> None:
    """The console, `serve`, `route` and `bench` get their router from composition.build_router."""
    builders = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "router"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ZetaDynamicRouter"
    )
    assert builders == ["composition.py"]
    for caller in ("ui/launch.py", "serve/cli.py", "headless.py", "benchmark/contenders.py"):
        assert "zeta_console.composition" in imported_modules(PACKAGE / caller), caller


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

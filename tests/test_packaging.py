"""The package ships every subpackage, the theme files and the bench scenarios."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
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


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    # Without PYTHONPATH: a checkout on it (with its egg-info) would count as zeta-console "already installed".
    env = {name: value for name, value in (env or os.environ).items() if name != "PYTHONPATH"}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_installed_wheel_lists_and_runs_the_bench_scenarios(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv (offline: the dependencies come from this one) and
    run `bench` from a directory outside the checkout, as after `pip install .`."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__"))
    offline = ("--no-deps", "--no-build-isolation", "--no-index")
    run(sys.executable, "-m", "pip", "wheel", "-q", *offline, "-w", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("zeta_console-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    # Only now borrow this venv's packages (after the venv's own): seen during the install, this venv's
    # own zeta-console counted as "already satisfied" and the wheel was never installed.
    (site / "dependencies.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    imported_from = run(python, "-c", "import zeta_console; print(zeta_console.__file__)", cwd=elsewhere, env=env)
    assert imported_from.startswith(str(site))
    listing = run(venv / "bin" / "zeta-console", "bench", "--list", cwd=elsewhere, env=env)
    assert {line.split()[0] for line in listing.splitlines()} >= {"steady", "overload", "slowdown", "failure", "replicas", "coldstart"}
    report = run(venv / "bin" / "zeta-console", "bench", "overload", "--quick", "--policies", "static", cwd=elsewhere, env=env)
    assert report.startswith("# overload: ") and "static" in report

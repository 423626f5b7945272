"""The command line as a user types it: global options mean the same before or after the subcommand,
a subcommand refuses the ones it does not use, every error is one line with its own usage."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zeta_console.cli import COMMANDS, main

pytestmark = pytest.mark.usefixtures("isolated_xdg")


def closed_ports(count: int) -> list[int]:
    """Distinct ports nobody listens on."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@pytest.fixture
def closed_port() -> int:
    return closed_ports(1)[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.fixture
def ollama_away(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """OLLAMA_HOST names a port nobody listens on: a command that should not use it fails if it does."""
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{closed_port}")
    return closed_port


def parser_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What the parser prints when it refuses `argv` (it exits with status 2)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


# --- global options before the subcommand ----------------------------------------------------


def test_config_before_check_config_is_the_file_checked(capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.yaml").write_text("policy: fastest\n")
    assert main(["check-config", "bad.yaml"]) == 2
    positional = capsys.readouterr().err
    assert main(["--config", "bad.yaml", "check-config"]) == 2
    assert capsys.readouterr().err == positional
    assert positional.startswith("zeta-console: bad.yaml:1: policy: unknown policy")


def test_demo_before_route_routes_on_the_demo_fleet(ollama_away: int, fast_demo: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "route", "write a python function that reverses a list"]) == 0
    assert capsys.readouterr().err.startswith("→ coder@local (qwen2.5-coder:7b) [code]: ")


def test_config_before_route_is_the_configuration_used(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    default_port, configured_port = closed_ports(2)
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{default_port}")
    Path("c.yaml").write_text(f"hosts:\n  - name: local\n    url: http://127.0.0.1:{configured_port}\n")
    assert main(["--config", "c.yaml", "route", "hello there"]) == 1
    assert f"cannot reach Ollama at http://127.0.0.1:{configured_port} " in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--demo", "--config"])
def test_config_and_demo_conflict_wherever_written(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    Path("c.yaml").write_text("policy: adaptive\n")
    other = ["--demo"] if flag == "--config" else ["--config", "c.yaml"]
    first = [flag, "c.yaml"] if flag == "--config" else [flag]
    error = parser_exit([*first, "route", "hello", *other], capsys)
    assert error.splitlines()[-1] == "zeta-console route: error: --config and --demo cannot be used together"


@pytest.mark.parametrize(
    ("argv", "flag", "command"),
    [
        (["--config", "c.yaml", "sim", "--port", "{busy}"], "--config", "sim"),
        (["sim", "--port", "{busy}", "--demo"], "--demo", "sim"),
        (["--listen", "127.0.0.1:0", "sim", "--port", "{busy}"], "--listen", "sim"),
        (["--demo", "check-config"], "--demo", "check-config"),
        (["--token", "t", "route", "hello"], "--token", "route"),
        (["route", "hello", "--listen", "127.0.0.1:0"], "--listen", "route"),
        (["--demo", "history"], "--demo", "history"),
        (["--config", "c.yaml", "bench", "no-such-scenario"], "--config", "bench"),
    ],
)
def test_a_global_option_a_command_does_not_use_is_refused(
    argv: list[str], flag: str, command: str, busy_port: int, ollama_away: int, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("c.yaml").write_text("policy: adaptive\n")
    error = parser_exit([arg.format(busy=busy_port) for arg in argv], capsys)
    assert error.startswith(f"usage: zeta-console {command} ")
    assert error.splitlines()[-1] == f"zeta-console {command}: error: {flag} does not apply to {command}"


# --- the console: --listen is bound before the terminal is taken over ------------------------------


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`zeta-console ARGV` in a process of its own, without a terminal; a console that starts its UI times out."""
    return subprocess.run(
        [sys.executable, "-m", "zeta_console.cli", *argv],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=30,
        cwd=cwd,
        env=dict(os.environ),
    )


def test_console_on_a_busy_listen_port_exits_2_before_touching_the_terminal(isolated_xdg: Path, busy_port: int) -> None:
    result = run_cli("--demo", "--listen", f"127.0.0.1:{busy_port}", cwd=isolated_xdg)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"zeta-console: cannot listen on 127.0.0.1:{busy_port}: Address already in use"]


def test_console_with_a_bad_config_exits_2_before_touching_the_terminal(isolated_xdg: Path) -> None:
    Path("bad.yaml").write_text("policy: adaptive\nthresholds:\n  queue: lots\n")
    result = run_cli("--config", "bad.yaml", cwd=isolated_xdg)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("zeta-console: bad.yaml:3: thresholds.queue: ") and len(result.stderr.splitlines()) == 1


# --- each subcommand's own usage and description --------------------------------------------------


def test_an_unknown_option_shows_the_subcommands_usage(capsys: pytest.CaptureFixture[str]) -> None:
    error = parser_exit(["route", "hello", "--bogus"], capsys)
    assert error.startswith("usage: zeta-console route ")
    assert error.splitlines()[-1] == "zeta-console route: error: unrecognized arguments: --bogus"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_subcommand_help_opens_with_a_description(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    paragraphs = capsys.readouterr().out.split("\n\n")
    assert paragraphs[0].startswith(f"usage: zeta-console {command}")
    assert not paragraphs[1].splitlines()[0].endswith(":"), f"a section heading, not a description: {paragraphs[1]}"


@pytest.mark.parametrize("prompt", ["", "  \n\t"])
def test_an_empty_prompt_is_refused(prompt: str, ollama_away: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", prompt]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "zeta-console: the prompt is empty: give the text to route, e.g. zeta-console route 'hello'\n"


@pytest.mark.parametrize("argv", [["route", "hi"], ["check-config"], ["serve"], ["sim"], []], ids=lambda argv: " ".join(argv) or "console")
def test_a_bad_ollama_host_is_one_line_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    """The ollama client reads OLLAMA_HOST when it is imported and raised a ValueError traceback."""
    env = {**os.environ, "OLLAMA_HOST": "127.0.0.1:99999", "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "zeta_console.cli", *argv]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "zeta-console: OLLAMA_HOST='127.0.0.1:99999': expected host:port with a port 1-65535, e.g. 127.0.0.1:11434\n"

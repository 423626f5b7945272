"""`--demo real`: the command line, the fleet it starts (and always stops), and a real answer through `route`."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.test_cli import parser_exit
from zeta_console.cli import main, parse
from zeta_console.demo import EMBEDDER_HOST, REAL_TIERS, open_demo
from zeta_console.demo_kind import DEMO_EMULATED, DEMO_REAL

pytestmark = pytest.mark.usefixtures("isolated_xdg", "tiny_model")  # the model fetched once, not inside a test's timing


def llama_children() -> set[psutil.Process]:
    """This process's llama.cpp servers (the session's shared ones included: compare before and after)."""
    return {child for child in psutil.Process().children() if "zeta_console.realfleet.llama_server" in " ".join(child.cmdline())}


@pytest.fixture
def started_here() -> Callable[[], set[psutil.Process]]:
    """The llama.cpp servers started since the test began that are still running."""
    before = llama_children()
    return lambda: llama_children() - before


@pytest.mark.parametrize(
    ("argv", "demo"),
    [
        (["--demo", "real"], DEMO_REAL),
        (["--demo"], DEMO_EMULATED),
        (["--demo", "real", "route", "hello"], DEMO_REAL),
        (["--demo", "route", "hello"], DEMO_EMULATED),  # `route` is the command, not --demo's word
        (["route", "hello", "--demo", "real"], DEMO_REAL),
        (["serve", "--demo=real"], DEMO_REAL),
        (["route", "hello"], None),
        (["route", "--", "--demo"], None),  # a prompt that reads "--demo"
    ],
)
def test_demo_takes_real_as_its_one_optional_word(argv: list[str], demo: str | None) -> None:
    _, args = parse(argv)
    assert args.demo == demo
    assert getattr(args, "prompt", "--demo") in ("hello", "--demo")


def test_an_unknown_demo_word_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    error = parser_exit(["--demo=fake"], capsys)
    assert "argument --demo: invalid choice: 'fake'" in error.splitlines()[-1]


@pytest.mark.parametrize(
    "argv", [["--demo", "real"], ["--demo", "real", "route", "hello"], ["serve", "--demo", "real", "--listen", "127.0.0.1:0"]]
)
def test_without_xllamacpp_demo_real_says_what_to_install(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str],
                                                          started_here: Callable[[], set[psutil.Process]]) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # importlib finds no such module
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "zeta-console: --demo real needs llama.cpp's server (xllamacpp), not installed: pip install 'zeta-console[real]'"
    ]
    assert not started_here()


async def test_the_real_fleet_answers_and_every_server_stops_even_on_an_error(started_here: Callable[[], set[psutil.Process]]) -> None:
    with pytest.raises(RuntimeError, match="the console failed"):
        async with open_demo(real=True) as demo:
            settings = demo.settings
            assert [(host.name, host.api) for host in settings.hosts] == [("llama-a", "openai"), ("llama-b", "openai"), ("sim", "ollama")]
            assert {model.tier: model.hosts for model in settings.models} == {
                **{tier: (host,) for tier, host in REAL_TIERS.items()}, "embedder": (EMBEDDER_HOST,)
            }
            servers = started_here()
            assert len(servers) == 2
            async with httpx.AsyncClient() as client:
                for host in settings.hosts:
                    assert (await client.get(f"{host.url}/health" if host.api == "openai" else host.url)).status_code == 200
            raise RuntimeError("the console failed")
    gone, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive and not started_here()


def test_route_gets_a_real_answer_from_the_coder_server(capsys: pytest.CaptureFixture[str],
                                                        started_here: Callable[[], set[psutil.Process]]) -> None:
    assert main(["--demo", "real", "route", "write a python function that reverses a list"]) == 0
    captured = capsys.readouterr()
    # either real server (the policy explores now and then); never the emulated embedder
    assert re.match(r"→ \w+@llama-[ab] \(smollm2-135m-instruct\) \[code\]: ", captured.err.splitlines()[-1])
    assert len(captured.out.split()) > 3  # the model's own words, not an emulator's
    assert "[simulated" not in captured.out
    assert not started_here()


def test_the_real_demo_logs_go_to_the_state_dir(isolated_xdg: Path) -> None:
    assert main(["--demo", "real", "route", "hello", "--task", "embedding"]) == 0
    logs = sorted(path.name for path in (isolated_xdg / "state-home" / "zeta-console" / "demo-real").iterdir())
    assert logs == ["llama-a.log", "llama-b.log"]

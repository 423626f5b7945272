"""`zeta-console init`: a config from what an emulated host serves, shown, checked, never overwriting
without --force; and the tier guesses on their own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.router.routing import FAST, other_models_spec
from zeta_console.cli import main
from zeta_console.config import load_settings
from zeta_console.init_config import FoundHost, FoundModel, Survey, default_path, guess_tiers, host_names, propose, write_config
from zeta_console.router.api import EndpointStatus
from zeta_console.router.requests import ChatRequest
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.sim import SimFleet, run_fleet_in_thread


@pytest.fixture
def other_host() -> Iterator[SimFleet]:
    with run_fleet_in_thread(replace(other_models_spec(), time_scale=FAST)) as fleet:
        yield fleet


def test_init_shows_the_config_then_writes_it_and_check_config_accepts_it(
    isolated_xdg: Path, other_host: SimFleet, capsys: pytest.CaptureFixture[str]
) -> None:
    url = other_host.host("local").url
    path = isolated_xdg / "written.yaml"
    assert main(["init", "--host", url, str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == path.read_text()
    assert captured.err.strip() == f"zeta-console: wrote {path}; start the console with it: zeta-console --config {path}"
    assert "# thinking model, 14.8B" in captured.out
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {path} (1 host, 3 models")
    settings = load_settings(path, overrides=False)
    assert [(host.name, host.url) for host in settings.hosts] == [("local", url)]
    assert [(m.tier, m.model, m.hosts, m.capabilities) for m in settings.models] == [
        ("coder", "llama3.1:8b", ("local",), frozenset({"completion", "tools"})),
        ("embedder", "nomic-embed-text:latest", ("local",), frozenset({"embedding"})),
        ("reasoner", "deepseek-r1:14b", ("local",), frozenset({"completion", "thinking"})),
    ]


async def test_a_router_on_the_written_config_finds_every_model(isolated_xdg: Path, other_host: SimFleet) -> None:
    path = isolated_xdg / "written.yaml"
    text, _ = await propose([other_host.host("local").url])
    write_config(path, text, force=False)
    async with ZetaDynamicRouter(load_settings(path, overrides=False), time_scale=FAST) as router:
        assert {endpoint.status for endpoint in router.snapshot().endpoints} == {EndpointStatus.UP}
        async with router.chat(ChatRequest(messages=[{"role": "user", "content": "hello there"}])) as stream:
            async for _ in stream:
                pass
        assert stream.record is not None and stream.record.model == "llama3.1:8b"


def test_init_writes_where_the_console_looks_by_default(isolated_xdg: Path, other_host: SimFleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", other_host.host("local").url.removeprefix("http://"))
    assert main(["init"]) == 0
    assert default_path() == isolated_xdg / "config-home" / "zeta-console" / "config.yaml"
    assert load_settings().source == str(default_path())


def test_init_never_overwrites_without_force(isolated_xdg: Path, other_host: SimFleet, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated_xdg / "config.yaml"
    path.write_text("policy: static\n")
    # refused before any host is asked: this URL has nobody listening
    assert main(["init", "--host", "http://127.0.0.1:9", str(path)]) == 1
    assert capsys.readouterr().err.strip() == f"zeta-console: {path} exists: not overwriting it (use --force, or give another PATH)"
    assert path.read_text() == "policy: static\n"

    assert main(["init", "--force", "--host", other_host.host("local").url, str(path)]) == 0
    assert "model: \"deepseek-r1:14b\"" in path.read_text()
    assert load_settings(path, overrides=False).model("reasoner").model == "deepseek-r1:14b"


def test_an_unreachable_host_is_one_line(isolated_xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = isolated_xdg / "config.yaml"
    assert main(["init", "--host", "127.0.0.1:9", str(path)]) == 1
    assert capsys.readouterr().err.strip() == (
        "zeta-console: cannot read the models of a server at http://127.0.0.1:9 (connection refused): neither /api/tags (Ollama) nor "
        "/v1/models (OpenAI-compatible) answered; start `ollama serve` or the model server, or give --host URL"
    )
    assert not path.exists()


def _model(name: str, *capabilities: str, size: float = 8.0, hosts: tuple[str, ...] = ("local",)) -> FoundModel:
    return FoundModel(name, hosts, frozenset(capabilities), f"{size}B", size)


def _tiers(*models: FoundModel) -> dict[str, str]:
    return {tier.tier: tier.model for tier in guess_tiers(Survey((FoundHost("local", "http://127.0.0.1:11434"),), models))}


def test_the_tiers_guessed_from_what_models_can_do_and_their_sizes() -> None:
    assert _tiers(
        _model("llama3.1:8b", "completion"), _model("qwen2.5-coder:14b", "completion", size=14.8),
        _model("llama3.3:70b", "completion", size=70.6), _model("mxbai-embed-large", "embedding", size=0.3),
    ) == {"coder": "qwen2.5-coder:14b", "reasoner": "llama3.3:70b", "embedder": "mxbai-embed-large"}
    # no thinking model, no coder: the largest reasons, the one nearest a mid size codes
    assert _tiers(_model("gemma3:1b", "completion", size=1.0), _model("gemma3:12b", "completion", size=12.2),
                  _model("gemma3:27b", "completion", size=27.4))["coder"] == "gemma3:12b"
    # a thinking model reasons even when it is not the largest
    assert _tiers(_model("qwen3:4b", "completion", "thinking", size=4.0), _model("llama3.3:70b", "completion", size=70.6)) == {
        "reasoner": "qwen3:4b", "coder": "llama3.3:70b", "embedder": "nomic-embed-text",
    }
    # one chat model: a single tier; no embedding model: the embedder names one to pull
    only = guess_tiers(Survey((FoundHost("local", "http://127.0.0.1:11434"),), (_model("llama3.2:3b", "completion", size=3.2),)))
    assert [(t.tier, t.model) for t in only] == [("coder", "llama3.2:3b"), ("embedder", "nomic-embed-text")]
    assert only[1].why == "no embedding model installed: `ollama pull nomic-embed-text`"


def test_host_names_are_short_and_unique() -> None:
    assert host_names(["http://127.0.0.1:11434", "http://gpu-a.lan:11434", "http://gpu-a.lab:11434", "http://10.0.0.7:11434"]) == [
        "local", "gpu-a", "gpu-a-2", "host4",
    ]

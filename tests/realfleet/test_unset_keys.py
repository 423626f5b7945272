"""A host whose `api_key_env` variable is not set is said up front, one line naming the host, the
key and the variable (never a value), by check-config, route, serve and on the host's card; it is a
warning, not an error: a real llama.cpp server started without --api-key answers all the same."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.llama_fleet import LlamaServers
from tests.realfleet.test_openai_router import CHAT, llama_settings
from tests.serve.test_serve_command import isolated_env, run_serve
from zeta_console.composition import build_router
from zeta_console.router.api import EndpointStatus
from zeta_console.settings import ModelConfig

VARIABLE = "ZETA_TEST_LLAMA_KEY"
SECRET = "sk-never-printed-4242"


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "hosts:\n"
        f"  - {{name: llama, url: \"{url}\", api: openai, api_key_env: {VARIABLE}}}\n"
        "models:\n  - {tier: coder, model: coder, hosts: [llama], capabilities: [completion]}\n"
        "routes: {simple: [coder], code: [coder], complex_reasoning: [coder], embedding: []}\n"
    )
    return path


def zeta(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zeta_console.cli", *argv], capture_output=True, text=True,
                          env=isolated_env(tmp_path), cwd=tmp_path, timeout=120)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line]


def assert_one_warning(stderr: str) -> None:
    lines = warnings(stderr)
    assert len(lines) == 1, stderr
    assert "host llama" in lines[0] and f"api_key_env {VARIABLE} is not set" in lines[0]


def test_check_config_warns_of_an_unset_key_and_still_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config(tmp_path, "http://127.0.0.1:8080")
    monkeypatch.delenv(VARIABLE, raising=False)
    done = zeta(tmp_path, "check-config", str(path))
    assert done.returncode == 0 and done.stdout.startswith("ok: ")
    assert_one_warning(done.stderr)
    monkeypatch.setenv(VARIABLE, SECRET)
    done = zeta(tmp_path, "check-config", str(path))
    assert done.returncode == 0 and not warnings(done.stderr)
    assert SECRET not in done.stdout + done.stderr


def test_route_and_serve_warn_at_start_and_still_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        llama_servers: LlamaServers) -> None:
    path = config(tmp_path, llama_servers.shared("coder").url)
    monkeypatch.delenv(VARIABLE, raising=False)
    done = zeta(tmp_path, "route", "--config", str(path), "--task", "simple", "Say hi")
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    assert_one_warning(done.stderr)
    _, stderr = run_serve(tmp_path, "serve", "--config", str(path), "--listen", "127.0.0.1:0")
    assert_one_warning(stderr)


async def test_the_hosts_card_says_its_key_is_not_set(llama_servers: LlamaServers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    settings = llama_settings({"llama": llama_servers.shared("coder").url}, (ModelConfig("coder", "coder", ("llama",), CHAT),))
    settings = replace(settings, hosts=(replace(settings.hosts[0], api_key_env=VARIABLE),))
    async with build_router(settings, health_poll_s=0.2, seed=1) as router:
        await wait_until(lambda: router.health.hosts["llama"].reachable is True, timeout=10, message="llama probed")
        (card,) = router.snapshot().endpoints
        assert card.status is EndpointStatus.UP  # the server ignores keys: a warning, not a failure
        assert card.status_reason == f"llama.cpp · no key: {VARIABLE} is not set"

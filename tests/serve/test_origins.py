"""Which web pages may call the endpoint: Ollama's Origin allow-list, CORS preflights, the settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import serving
from zeta_console.config import load_settings
from zeta_console.serve.security import OriginPolicy, origins_from_env
from zeta_console.settings import Serve, Settings
from zeta_console.yaml_source import ConfigError

UNLOAD = {"model": "qwen3:14b", "keep_alive": 0}  # what a hostile page would send: unload the operator's model
SIMPLE = b'{"model": "zeta:simple", "prompt": "hi", "stream": false}'


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost",
        "https://localhost:8443",
        "http://127.0.0.1:5173",
        "http://0.0.0.0:3000",
        "http://[::1]:8080",
        "HTTP://LOCALHOST:3000",
        "app://obsidian.md",
        "file://",
        "tauri://localhost",
        "vscode-webview://1a2b3c",
        "vscode-file://vscode-app",
    ],
)
def test_ollamas_local_and_app_origins_are_allowed(origin: str) -> None:
    assert OriginPolicy().allows(origin, host="127.0.0.1:11435")


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://localhost.evil.example",
        "http://127.0.0.1.evil.example:80",
        "null",  # what a file:// page sends in Chromium: Ollama refuses it too
        "chrome-extension://abc",
        "ftp://localhost",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    assert not OriginPolicy().allows(origin, host="127.0.0.1:11435")


def test_extra_origins_take_wildcards_and_star_allows_every_origin() -> None:
    policy = OriginPolicy(["https://*.example.com", "chrome-extension://*"])
    assert policy.allows("https://chat.example.com", host="")
    assert policy.allows("chrome-extension://abcdef", host="")
    assert not policy.allows("https://example.org", host="")
    everyone = OriginPolicy(["*"])
    assert everyone.allows("http://evil.example", host="")
    assert everyone.allow_origin_header("http://evil.example") == (b"access-control-allow-origin", b"*")


def test_a_page_calling_its_own_origin_passes() -> None:
    assert OriginPolicy().allows("http://box.lan:11435", host="box.lan:11435")


def test_ollama_origins_is_comma_separated_like_ollamas() -> None:
    assert origins_from_env(' "https://a.example, chrome-extension://*" ') == ("https://a.example", "chrome-extension://*")
    assert origins_from_env("") == ()


async def test_a_cross_origin_simple_post_is_refused_before_it_reaches_the_router() -> None:
    async with serving() as served, httpx.AsyncClient(base_url=served.url) as http:
        hostile = await http.post("/api/generate", json=UNLOAD, headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
        requests_after = served.router.snapshot().total_requests
        local = await http.post("/api/generate", content=SIMPLE, headers={"Origin": "http://127.0.0.1:5173", "Content-Type": "text/plain"})
        no_origin = await http.post("/api/generate", content=SIMPLE)
    assert (hostile.status_code, hostile.content) == (403, b"")
    assert requests_after == 0
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    assert local.headers["vary"] == "Origin"
    assert no_origin.status_code == 200 and "access-control-allow-origin" not in no_origin.headers


async def test_preflights_are_answered_for_allowed_origins_only_and_need_no_token() -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    async with (
        serving(listen="0.0.0.0:0", token="s3cret") as served,
        httpx.AsyncClient(base_url=served.url.replace("0.0.0.0", "127.0.0.1")) as http,
    ):
        allowed = await http.options("/api/chat", headers={**preflight, "Origin": "http://localhost:3000"})
        refused = await http.options("/api/chat", headers={**preflight, "Origin": "http://evil.example"})
        refused_post = await http.post("/api/chat", headers={"Origin": "http://evil.example", "Authorization": "Bearer s3cret"})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in allowed.headers["access-control-allow-methods"].split(",")
    assert {"authorization", "content-type"} <= set(allowed.headers["access-control-allow-headers"].lower().split(","))
    assert allowed.headers["access-control-max-age"] == "43200"
    assert (refused.status_code, refused.content) == (403, b"")
    assert refused_post.status_code == 403  # the Origin check holds on a token-protected bind too, as in Ollama


async def test_setting_and_ollama_origins_both_extend_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_ORIGINS", "https://*.from-env.example")
    base = replace(Settings(), serve=Serve(allowed_origins=("https://chat.example.com",)))
    async with serving(base=base) as served, httpx.AsyncClient(base_url=served.url) as http:
        statuses = {
            origin: (await http.post("/api/generate", content=SIMPLE, headers={"Origin": origin})).status_code
            for origin in ("https://chat.example.com", "https://ui.from-env.example", "https://other.example")
        }
    assert statuses == {"https://chat.example.com": 200, "https://ui.from-env.example": 200, "https://other.example": 403}


def test_allowed_origins_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('serve:\n  allowed_origins: [https://chat.example.com, "chrome-extension://*"]\n')
    assert load_settings(config, overrides=False).serve.allowed_origins == ("https://chat.example.com", "chrome-extension://*")
    config.write_text("serve:\n  allowed_origins: []\n")
    assert load_settings(config, overrides=False).serve.allowed_origins == ()
    config.write_text("serve:\n  allowed_origins:\n    - chat.example.com\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, overrides=False)
    expected = 'expected an origin such as "https://chat.example.com" or "chrome-extension://*", got "chat.example.com"'
    assert str(caught.value) == f"{config}:3: serve.allowed_origins[0]: {expected}"

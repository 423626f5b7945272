"""The console's first run against a host that serves none of the default models: the cards say
MISSING and what the host has, a banner says so, and the palette writes a config from them."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace

import pytest
from textual.widgets import Static

from tests.router.routing import other_models_spec
from tests.ui.conftest import settle
from zeta_console.config import load_settings
from zeta_console.init_config import default_path
from zeta_console.router.api import EndpointStatus
from zeta_console.router.health import PROBE_TIMEOUT_S
from zeta_console.router.router import HEALTH_POLL_S
from zeta_console.settings import HostConfig, Settings
from zeta_console.sim import run_fleet
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.commands import WRITE_CONFIG_COMMAND, ConsoleCommands
from zeta_console.ui.launch import ConsoleOptions, open_session
from zeta_console.ui.widgets.endpoint_card import EndpointCard

pytestmark = pytest.mark.usefixtures("isolated_xdg")

PROBE_ROUNDS = 5  # health rounds the host may take to be reached
HAS = "llama3.1:8b, nomic-embed-text:latest, deepseek-r1:14b"


async def test_first_run_on_other_models_shows_them_and_writes_a_config() -> None:
    async with run_fleet(replace(other_models_spec(), time_scale=50.0)) as fleet, AsyncExitStack() as stack:
        settings = replace(Settings(), hosts=(HostConfig("local", fleet.host("local").url),))  # no config file: built-in source
        session = await open_session(stack, settings, ConsoleOptions())
        app = ZetaConsole(session)
        async with app.run_test(size=(160, 48)) as pilot:
            # A health probe times out after PROBE_TIMEOUT_S of wall time, which the app's start-up shares: on a loaded
            # machine the first rounds can time out, and the console rightly says no Ollama answers until a later round
            # reaches the host. What this test is about is the banner once the host has been reached.
            banner_widget = app.screen.query_one("#banner", Static)
            await settle(
                pilot,
                lambda: banner_widget.display and not str(banner_widget.content).startswith("No Ollama answering"),
                timeout=PROBE_ROUNDS * (HEALTH_POLL_S + PROBE_TIMEOUT_S),
                message="the banner of a reached host",
            )
            banner = str(banner_widget.content)
            assert banner.startswith(
                "No config file, and none of the default models (qwen2.5-coder:7b, qwen3-embedding:4b, qwen3:14b) is installed:"
                f" local has {HAS}."
            )
            assert WRITE_CONFIG_COMMAND in banner
            card = app.screen.query(EndpointCard).first()
            assert card.has_class("-missing")
            status = str(card.query_one("#status", Static).content)
            assert status.startswith(f"MISSING not installed on local (it has {HAS}): `ollama pull qwen2.5-coder:7b`")
            assert str(card.query_one("#residency", Static).content) == "not installed"

            entries = {title: callback for title, callback, _ in ConsoleCommands(app.screen).entries()}
            entries[WRITE_CONFIG_COMMAND]()
            await settle(pilot, lambda: any(n.title == "Config" for n in app._notifications), message="written")
            note = next(n.message for n in app._notifications if n.title == "Config")
            assert note == (
                f"Wrote {default_path()} (coder llama3.1:8b, embedder nomic-embed-text:latest, reasoner deepseek-r1:14b). "
                "Restart the console to use it."
            )
            written = load_settings()
            assert written.source == str(default_path())
            assert [model.model for model in written.models] == ["llama3.1:8b", "nomic-embed-text:latest", "deepseek-r1:14b"]
            assert all(endpoint.status is EndpointStatus.MISSING for endpoint in session.router.snapshot().endpoints)  # until restarted

"""`zeta-console --demo` loads its models before its background traffic starts, and the cards say so."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace

import httpx
import pytest
from textual.widgets import Static

from tests.ui.frozen import frozen_app
from zeta_console.router.api import RequestRecord
from zeta_console.settings import LoadGenerator, Settings
from zeta_console.ui.launch import ConsoleOptions, open_session
from zeta_console.ui.widgets.endpoint_card import DEMO_LOADING, EndpointCard

pytestmark = pytest.mark.usefixtures("isolated_xdg")


async def test_the_demo_starts_its_traffic_on_loaded_models() -> None:
    """Cold, the demo's first requests queued behind three loads one at a time (~10 s): cards DEGRADED
    (queue 5 > 4), requests shed. The loads now come first: when the demo's start returns (and its traffic
    begins), the fleet has every model loaded."""
    records: list[RequestRecord] = []
    async with AsyncExitStack() as stack:
        settings = replace(Settings(), load_generator=LoadGenerator(rate_per_s=20.0))
        session = await open_session(stack, settings, ConsoleOptions(demo=True, time_scale=20.0))
        stack.callback(session.router.subscribe(lambda event: records.append(event) if isinstance(event, RequestRecord) else None))
        endpoint_ids = [e.id for e in session.router.snapshot().endpoints]
        assert session.warm_up is not None and all(session.warm_up.loading(e) for e in endpoint_ids)
        async with httpx.AsyncClient() as client:  # nothing loaded before the demo starts
            assert (await client.get(session.settings.host("local").url + "/api/ps")).json() == {"models": []}
        assert session.start is not None
        await session.start()
        assert not any(session.warm_up.loading(e) for e in endpoint_ids)
        async with httpx.AsyncClient() as client:  # the warm-up's loads, as the fleet reports them
            loaded = (await client.get(session.settings.host("local").url + "/api/ps")).json()["models"]
        assert sorted(model["name"] for model in loaded) == sorted(model.model for model in session.settings.models)
        assert records == []  # the warm-up is not routed traffic: no request of its own in the log or the rates


class Loading:
    def __init__(self, endpoint_id: str) -> None:
        self.endpoint_id = endpoint_id

    def loading(self, endpoint_id: str) -> bool:
        return endpoint_id == self.endpoint_id


async def test_a_card_says_the_demo_is_loading_its_model() -> None:
    app = frozen_app()
    app.session.warm_up = Loading("reasoner@local")
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        residency = {card.endpoint_id: str(card.query_one("#residency", Static).render()) for card in app.screen.query(EndpointCard)}
        assert residency["reasoner@local"] == DEMO_LOADING
        assert DEMO_LOADING not in residency["coder@local"] and DEMO_LOADING not in residency["embedder@local"]


async def test_a_compact_card_says_it_too_when_it_fits() -> None:
    app = frozen_app()
    app.session.warm_up = Loading("embedder@local")
    async with app.run_test(size=(100, 30)) as pilot:  # one line per card, with room for it
        await pilot.pause()
        lines = {card.endpoint_id: str(card.query_one("#compact-line", Static).render()) for card in app.screen.query(EndpointCard)}
        assert lines["embedder@local"].endswith(f" · {DEMO_LOADING}")
        assert DEMO_LOADING not in lines["coder@local"] and DEMO_LOADING not in lines["reasoner@local"]

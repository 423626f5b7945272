"""A chat-only fleet (no embedding route) is a valid configuration; an embed request is then
refused with one clear reason, through the router, against an emulated host."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.router.routing import answer, ask, routed
from zeta_console.config import load_settings
from zeta_console.router.api import Outcome
from zeta_console.router.errors import RejectedError
from zeta_console.router.requests import EmbedRequest
from zeta_console.settings import Task

pytestmark = pytest.mark.usefixtures("isolated_xdg")


async def test_a_task_without_a_route_is_rejected_with_a_clear_reason() -> None:
    Path("chat-only.yaml").write_text("routes:\n  embedding: []\n")
    routes = load_settings("chat-only.yaml", overrides=False).routes
    assert routes[Task.EMBEDDING] == ()
    async with routed(routes=routes) as run:
        with pytest.raises(RejectedError) as caught:
            await run.router.embed(EmbedRequest(input="hello"))
        reason = "adaptive: no route for embedding (routes.embedding names no tier)"
        assert str(caught.value) == f"unavailable: {reason}"
        (record,) = run.records()
        assert record.outcome == Outcome.REJECTED and record.decision is not None and record.decision.reason == reason

        text, record = await answer(run.router, ask("hello there", task=Task.SIMPLE))
        assert record.outcome == Outcome.OK and text  # the routes that exist still serve

"""A hedged request through `serve`: the client gets one whole answer, /metrics counts the hedge."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx

from tests.helpers import wait_until
from tests.router.test_hedging import MODELS, StallWhereRouted
from tests.serve.conftest import FAST, busy_slots, serving
from zeta_console.router.hedging import START_HEDGES
from zeta_console.settings import Hedging, Settings, Timeouts
from zeta_console.sim import Fault

CODER, REASONER = MODELS.values()
HELLO = "hello there"
STALL_S = 200.0  # 1 s of wall time at FAST
BASE = replace(Settings(), hedging=Hedging(ratio=1.0, delay_s=0.05), timeouts=Timeouts(first_token_s=30.0))


async def chat_text(http: httpx.AsyncClient, model: str = "zeta:auto") -> str:
    """The streamed answer's content as the client received it, line by line."""
    body = {"model": model, "messages": [{"role": "user", "content": HELLO}], "stream": True}
    parts = []
    async with http.stream("POST", "/api/chat", json=body) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if line:
                parts.append(json.loads(line)["message"]["content"])
    return "".join(parts)


def metric(text: str, name: str) -> float:
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith((name + " ", name + "{")))


async def test_a_hedged_stream_reaches_the_client_once_and_metrics_count_it() -> None:
    async with serving(base=BASE) as stack, httpx.AsyncClient(base_url=stack.url) as http:
        before = (await http.get("/metrics")).text
        assert 'zeta_hedges_total{result="sent"} 0.0' in before and metric(before, "zeta_hedging_enabled") == 1.0
        for model in (CODER, REASONER):  # both models loaded: a model that may be loading is not hedged
            await chat_text(http, model)
        host = stack.fleet.host("local")
        stall = StallWhereRouted(host, Fault(stall_s=STALL_S))  # whichever model the router picks first straggles
        stack.router.subscribe(stall)
        text = await chat_text(http)
        winner = next(model for endpoint, model in MODELS.items() if endpoint != stall.primaries[0])
        assert text == host.chat_answer(winner, [HELLO])  # the hedge's whole answer, nothing of the straggler's
        await wait_until(lambda: busy_slots(stack.fleet) == 0, timeout=STALL_S / FAST / 2, message="the stalled attempt's slot freed")
        after = (await http.get("/metrics")).text
        for result, count in (("sent", 1), ("won", 1), ("cancelled", 1), ("denied", 0)):
            assert f'zeta_hedges_total{{result="{result}"}} {count:.1f}' in after
        assert metric(after, "zeta_hedge_budget_ratio") == 1.0
        # it started with START_HEDGES, three requests earned one hedge each, one was spent
        assert metric(after, "zeta_hedge_budget") == START_HEDGES + 2.0
        stack.router.controls.set_hedging(False)
        assert metric((await http.get("/metrics")).text, "zeta_hedging_enabled") == 0.0
        assert 'zeta_operator_actions_total{action="set_hedging",source="operator"} 1.0' in (await http.get("/metrics")).text

"""Operator controls: each takes effect on the next decision, is recorded, and can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.router.routing import answer, ask, routed
from zeta_console.router.api import EndpointStatus, OperatorAction
from zeta_console.router.controls import OperatorControls
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.router.view import RouterView
from zeta_console.settings import Adaptive, PolicyName, Settings, Task


async def test_pin_drain_and_eject_apply_to_the_next_decision(tmp_path: Path) -> None:
    async with routed(journal_path=tmp_path / "journal.sqlite3") as run:
        router = run.router

        async def simple_goes_to() -> str | None:
            return (await answer(router, ask("hello", Task.SIMPLE)))[1].endpoint

        assert await simple_goes_to() == "coder@local"
        pin = router.controls.pin("reasoner", Task.SIMPLE)
        assert (pin.action, pin.target, pin.old, pin.new) == ("pin", "simple", "", "reasoner")
        assert await simple_goes_to() == "reasoner@local"
        router.controls.unpin(Task.SIMPLE)
        assert await simple_goes_to() == "coder@local"

        router.controls.drain("coder@local")
        assert await simple_goes_to() == "reasoner@local"
        router.controls.undrain("coder@local")
        assert await simple_goes_to() == "coder@local"

        router.controls.eject("coder@local")
        assert await simple_goes_to() == "reasoner@local"
        router.controls.restore("coder@local")
        assert await simple_goes_to() == "coder@local"

        actions = [event for event in run.events if isinstance(event, OperatorAction)]
        assert [action.action for action in actions] == ["pin", "unpin", "drain", "undrain", "eject", "restore"]
        assert run.journal is not None and run.journal.flush(5.0)
        assert [action.action for action in run.journal.recent_actions(10)] == ["pin", "unpin", "drain", "undrain", "eject", "restore"]


async def test_thresholds_and_policy_are_validated_and_reverted() -> None:
    async with routed() as run:
        router = run.router
        with pytest.raises(ValueError, match="thresholds.queue: expected a positive integer"):
            router.controls.set_threshold("queue", "lots")
        with pytest.raises(ValueError, match="unknown threshold"):
            router.controls.set_threshold("speed", 1)
        with pytest.raises(ValueError, match="unknown policy"):
            router.controls.set_policy("fastest")
        with pytest.raises(ValueError, match="unknown tier"):
            router.controls.pin("giant")
        with pytest.raises(ValueError, match="cannot serve"):
            router.controls.pin("embedder", Task.CODE)
        assert router.snapshot().differs_from_config == frozenset()

        action = router.controls.set_threshold("ttft_s", 1.5)
        assert (action.target, action.old, action.new) == ("thresholds.ttft_s", str(run.settings.thresholds.ttft_s), "1.5")
        router.controls.set_threshold("queue", 2, tier="reasoner")
        assert router.controls.thresholds_for("reasoner").queue == 2 and router.controls.thresholds_for("coder").queue == 4
        router.controls.set_policy(PolicyName("static"))
        router.controls.pin("coder")
        _, record = await answer(router, ask("hello", Task.SIMPLE))
        assert record.decision.policy == PolicyName("static")
        assert record.decision.pins == {"*": "coder"}
        assert router.snapshot().differs_from_config == {"thresholds.ttft_s", "reasoner.thresholds.queue", "policy", "pins.*"}

        undone = router.controls.revert_to_config()
        assert {action.target for action in undone} == {"thresholds.ttft_s", "reasoner.thresholds.queue", "policy", "*"}
        snapshot = router.snapshot()
        assert snapshot.differs_from_config == frozenset()
        assert snapshot.policy == PolicyName("adaptive") and snapshot.pins == {}
        assert router.controls.thresholds_for("reasoner").queue == 4


async def test_a_request_target_pins_only_that_request() -> None:
    async with routed() as run:
        await answer(run.router, ask("hello", Task.SIMPLE))  # the coder loaded: it is the better choice again
        _, pinned = await answer(run.router, ask("hello", Task.SIMPLE, target="qwen3:14b"))
        _, free = await answer(run.router, ask("hello", Task.SIMPLE))
        assert pinned.endpoint == "reasoner@local" and pinned.decision.pins == {"simple": "reasoner"}
        assert free.endpoint == "coder@local"


async def test_a_failing_listener_never_breaks_routing() -> None:
    async with routed() as run:
        def broken(_: object) -> None:
            raise RuntimeError("listener bug")

        unsubscribe = run.router.subscribe(broken)
        text, record = await answer(run.router, ask("hello", Task.SIMPLE))
        assert text and record.outcome.value == "ok"
        unsubscribe()


async def test_a_snapshot_shows_every_state_and_each_action_undoes_only_its_own() -> None:
    async with routed() as run:
        router = run.router

        def coder() -> tuple[EndpointStatus, tuple[EndpointStatus, ...], str]:
            endpoint = next(item for item in router.snapshot().endpoints if item.id == "coder@local")
            return endpoint.status, endpoint.states, endpoint.status_reason

        router.controls.drain("coder@local")
        router.controls.eject("coder@local")
        both = (EndpointStatus.DRAINED, EndpointStatus.EJECTED)
        assert coder() == (EndpointStatus.DRAINED, both, "drained by the operator; ejected by the operator")
        router.controls.restore("coder@local")  # still drained: restore undoes the ejection only
        assert coder()[:2] == (EndpointStatus.DRAINED, (EndpointStatus.DRAINED,))
        router.controls.eject("coder@local")
        router.controls.undrain("coder@local")
        assert coder()[:2] == (EndpointStatus.EJECTED, (EndpointStatus.EJECTED,))
        router.controls.restore("coder@local")
        assert coder()[:2] == (EndpointStatus.UP, (EndpointStatus.UP,))


async def test_the_last_endpoint_that_can_serve_a_route_is_not_ejected() -> None:
    async with routed() as run:
        router = run.router
        with pytest.raises(ValueError, match="embedder@local is the last endpoint that can serve embedding requests: not ejected"):
            router.controls.eject("embedder@local")
        router.controls.eject("reasoner@local")  # the coder still serves complex reasoning
        with pytest.raises(ValueError, match="coder@local is the last endpoint that can serve"):
            router.controls.eject("coder@local")
        states = {endpoint.id: endpoint.states for endpoint in router.snapshot().endpoints}
        up, ejected = (EndpointStatus.UP,), (EndpointStatus.EJECTED,)
        assert states == {"coder@local": up, "embedder@local": up, "reasoner@local": ejected}
        assert [event.action for event in run.events if isinstance(event, OperatorAction)] == ["eject"]


def test_the_router_exposes_no_hooks_for_its_own_request_runs() -> None:
    """A request's life is a RequestRun; the router hands runs out and owns the shared state, its
    operator controls are a component (no mixin with hooks to override)."""
    hooks = ("classify", "admit", "begin_attempt", "load_allowance_s", "open_stream", "send_embed",
             "first_token", "attempt_succeeded", "attempt_failed", "may_retry", "finish")  # fmt: skip
    assert [name for name in hooks if hasattr(ZetaDynamicRouter, name)] == []
    assert OperatorControls not in ZetaDynamicRouter.__mro__
    router = ZetaDynamicRouter(Settings())
    assert isinstance(router.controls, OperatorControls) and isinstance(router.view, RouterView)


async def test_the_tier_preference_is_set_live_checked_recorded_and_reverted() -> None:
    async with routed(adaptive=Adaptive(explore_rate=0.0)) as run:
        router = run.router
        for tier in ("coder", "reasoner"):  # both measured: nothing is chosen to be measured below
            await answer(router, ask("hello", Task.SIMPLE, target=tier))

        async def reasoning_reason() -> str:
            return (await answer(router, ask("Explain why the sky is blue", Task.COMPLEX_REASONING)))[1].decision.reason

        assert "preferred tier" not in await reasoning_reason()  # the configured 1: time alone
        with pytest.raises(ValueError, match=r"adaptive.tier_tolerance: expected a number >= 1, got 0.5"):
            router.controls.set_tier_tolerance("0.5")
        assert router.snapshot().tier_tolerance == 1.0 and router.snapshot().differs_from_config == frozenset()

        action = router.controls.set_tier_tolerance("100", source="console")
        assert (action.action, action.target, action.old, action.new) == ("set_tier_tolerance", "adaptive.tier_tolerance", "1.0", "100.0")
        assert "kept on preferred tier reasoner" in await reasoning_reason()
        router.controls.set_policy(PolicyName("adaptive"))  # a policy chosen again is built with the live value
        assert "kept on preferred tier reasoner" in await reasoning_reason()
        snapshot = router.snapshot()
        assert snapshot.tier_tolerance == 100.0 and snapshot.differs_from_config == {"adaptive.tier_tolerance"}

        undone = router.controls.revert_to_config()
        assert [(action.action, action.new) for action in undone] == [("set_tier_tolerance", "1.0")]
        assert "preferred tier" not in await reasoning_reason()
        assert router.snapshot().tier_tolerance == 1.0

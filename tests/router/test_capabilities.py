"""Capabilities from /api/show are read once a host answers, not only at start."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import wait_until
from tests.router.routing import FAST
from zeta_console.benchmark.settings_scale import scaled_settings
from zeta_console.demo import demo_settings
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Settings
from zeta_console.sim import default_fleet_spec, run_fleet


async def test_a_host_down_at_start_has_its_capabilities_read_when_it_comes_up() -> None:
    async with run_fleet(replace(default_fleet_spec(), time_scale=FAST)) as fleet:
        host = fleet.host("local")
        host.host_down()
        settings = scaled_settings(demo_settings(fleet, Settings()), FAST)
        # configured as completion only; the emulated coder reports completion, tools and insert
        models = tuple(
            replace(model, capabilities=frozenset({"completion"})) if model.tier == "coder" else model for model in settings.models
        )
        async with ZetaDynamicRouter(replace(settings, models=models), health_poll_s=0.1, time_scale=FAST) as router:
            assert router.capabilities["coder@local"] == frozenset({"completion"})
            await host.host_up()
            await wait_until(
                lambda: "insert" in router.capabilities["coder@local"], timeout=10.0, message="capabilities read after the host came up"
            )
            assert router.capabilities["coder@local"] == frozenset({"completion", "tools", "insert"})
            assert router.capabilities["embedder@local"] == frozenset({"embedding"})

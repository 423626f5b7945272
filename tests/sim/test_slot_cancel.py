"""A waiter cancelled just before a slot is released: the release skips it, its exit is clean."""

from __future__ import annotations

import asyncio
import contextlib

from zeta_console.sim.engine import HostEngine, Work
from zeta_console.sim.latency import RequestPace
from zeta_console.sim.profiles import HostSpec, zero_latency_profile


def test_waiter_cancelled_then_dropped_by_a_release_exits_cleanly() -> None:
    profile = zero_latency_profile("m")
    engine = HostEngine(HostSpec(name="h", models=(profile,)), time_scale=1.0)
    runtime = engine.models[profile.name]

    def work() -> Work:
        return Work(RequestPace(profile, 1.0, 1.0), prompt_tokens=1, output_tokens=1)

    async def wait_for_slot() -> None:
        async with engine.slot(runtime, work()):
            pass

    async def scenario() -> None:
        holder = engine.slot(runtime, work())
        await holder.__aenter__()
        waiter = asyncio.create_task(wait_for_slot())
        await asyncio.sleep(0)  # the waiter queues for the single slot
        waiter.cancel()  # its turn is cancelled; it has not run since
        await holder.__aexit__(None, None, None)  # the release pops the cancelled turn and skips it
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        assert runtime.busy == 0 and not runtime.waiters

    asyncio.run(scenario())

"""`zeta-console` (no subcommand): load the config, build the router, run the console.

The config is loaded (and a bad one reported, exit 2) before the terminal is taken over. The
router is started by the app in a worker so the first frame never waits for a health probe.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zeta_console.config import clear_overrides, load_settings, overrides_path, save_overrides, warn_unset_keys
from zeta_console.demo_kind import DEMO_REAL
from zeta_console.heap import settle_heap
from zeta_console.settings import LoadGenerator as LoadSettings
from zeta_console.settings import Settings
from zeta_console.ui.session import ConsoleSession, Serving
from zeta_console.ui.stop_signals import StopOnSignals

if TYPE_CHECKING:
    from zeta_console.serve.endpoint import Listener


class OverridesFile:
    """The console's SettingsStore: the overrides file in the XDG config dir."""

    def save(self, changes: Mapping[str, Any]) -> Path:
        return save_overrides(changes)

    def clear(self) -> Path | None:
        path = overrides_path()
        existed = path.is_file()
        clear_overrides()
        return path if existed else None


@dataclass(frozen=True)
class ConsoleOptions:
    demo: bool = False
    real_fleet: bool = False  # demo only (`--demo real`): real llama.cpp servers of a tiny model, not the emulator
    listener: Listener | None = None  # the endpoint's socket, bound before the console starts
    time_scale: float = 1.0  # demo only: emulated models run this many times faster
    load_generator: bool = False  # also outside --demo (benchmarks): traffic at load_generator.rate_per_s


def run_console_command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)  # ConfigError: one line, exit 2, terminal untouched
    warn_unset_keys(settings)  # seen once the console ends; the host's card says it meanwhile
    with ExitStack() as stack:
        listener = None
        if args.listen:  # a bad, unsafe or busy address: one line, exit 2, terminal untouched
            from zeta_console.serve.endpoint import open_listener

            listener = open_listener(args.listen, args.token)
            stack.callback(listener.close)
        options = ConsoleOptions(demo=bool(args.demo), real_fleet=args.demo == DEMO_REAL, listener=listener)
        return asyncio.run(run_console(settings, options))


# Under load, requests in flight survive the young generations and full collections came every
# ~2 s, each a 170-320 ms pause of the whole loop (the p95 of key -> screen). Fewer, larger young
# collections let them die young. Measured (docs/BENCHMARKS.md): 700 (default) p95 ~190-200 ms;
# 3,000 p95 69-80 ms, RSS 138 MB at 60 s; 10,000 p95 85-127 ms but RSS ~200 MB (goal < 150).
GC_YOUNG_THRESHOLD = 3_000


async def run_console(settings: Settings, options: ConsoleOptions) -> int:
    """The exit status: Textual prints an unhandled error's traceback and sets return_code 1."""
    from zeta_console.ui.app import ZetaConsole

    app: ZetaConsole | None = None
    starting = asyncio.current_task()
    stopped_by: int | None = None  # the exit status a stop signal asked for

    def stop(status: int) -> None:
        nonlocal stopped_by
        stopped_by = status
        if app is not None:
            app.exit(return_code=status)
        elif starting is not None:  # still starting (a real demo loads its models): unwind what started
            starting.cancel()

    with StopOnSignals(stop):
        try:
            async with AsyncExitStack() as stack:
                session = await open_session(stack, settings, options)
                settle_heap(young_threshold=GC_YOUNG_THRESHOLD)
                app = ZetaConsole(session)
                await app.run_async()
                return app.return_code or 0
        except asyncio.CancelledError:
            if stopped_by is None:
                raise
            return stopped_by


# Two one-thread servers of the tiny model answer about one chat a second between them: the emulated
# demo's default traffic would only queue. An operator's own rate is kept.
REAL_DEMO_LOAD = LoadSettings(rate_per_s=0.5)


def _demo_load(operators: LoadSettings, real_fleet: bool) -> LoadSettings:
    return REAL_DEMO_LOAD if real_fleet and operators == LoadSettings() else operators


async def open_session(stack: AsyncExitStack, settings: Settings, options: ConsoleOptions) -> ConsoleSession:
    """Everything the console runs against; `stack` stops it all (router, fleet, load, endpoint)."""
    from zeta_console.composition import build_router, open_journal
    from zeta_console.loadgen import LoadGenerator

    extras: dict[str, Any] = {}
    loadgen: LoadGenerator | None = None
    demo = None
    if options.demo:
        from zeta_console.demo import open_demo, to_stderr

        # The demo keeps the operator's console preferences but not their hosts or models.
        base = replace(Settings(), ui=settings.ui, load_generator=_demo_load(settings.load_generator, options.real_fleet))
        fleet = open_demo(real=options.real_fleet, base=base, time_scale=options.time_scale, report=to_stderr)
        demo = await stack.enter_async_context(fleet)
        settings = demo.settings
    router = build_router(settings, journal=open_journal(stack, settings, demo=options.demo))
    stack.push_async_callback(router.stop)
    warm_up = None
    if demo is not None and demo.emulated:
        from zeta_console.demo import DemoWarmUp
        from zeta_console.ui.faults import SimulatedFaults

        warm_up = DemoWarmUp(settings)
        extras.update(simulated=True, faults=SimulatedFaults(demo.fleet, router), warm_up=warm_up)
    elif demo is not None:
        extras.update(real_fleet=True)
    serving = Serving(options.listener.address.url()) if options.listener is not None else None
    if serving is not None:
        stack.callback(router.subscribe(serving.observe))
    if options.demo or options.load_generator:
        loadgen = LoadGenerator(router, settings.load_generator.rate_per_s)
        stack.push_async_callback(loadgen.stop)
        extras.update(loadgen=loadgen)

    async def start() -> None:
        await router.start()
        if options.listener is not None and serving is not None:
            from zeta_console.serve.endpoint import serve_on

            endpoint = await serve_on(router, settings, options.listener)
            stack.push_async_callback(endpoint.stop)
            serving.url = endpoint.url
        if warm_up is not None:
            await warm_up.run()
        if loadgen is not None:
            loadgen.start()

    return ConsoleSession(
        router=router,
        settings=settings,
        store=None if options.demo else OverridesFile(),  # the demo saves nothing, the theme included
        start=start,
        looked_at=tuple(host.url for host in settings.hosts),
        serving=serving,
        **extras,
    )

"""`zeta-console serve`: the Ollama-compatible endpoint, headless, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from zeta_console.heap import settle_heap
from zeta_console.journal import Journal
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import start_endpoint
from zeta_console.serve.security import parse_listen, require_safe_bind
from zeta_console.settings import Settings


def run_serve_command(args: argparse.Namespace) -> int:
    if args.listen is None:  # no --listen: the configuration's serve.listen
        from zeta_console.config import load_settings

        args.listen = (Settings() if args.demo else load_settings(args.config)).serve.listen
    # Refuse a bad or unsafe address before starting anything.
    require_safe_bind(parse_listen(args.listen), args.token)
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    async with contextlib.AsyncExitStack() as stack:
        settings = await _settings(args, stack)
        journal = None if args.demo else Journal.from_settings(settings)  # as the console: simulated traffic is not journalled
        if journal is not None:
            stack.callback(journal.close)
        router = await stack.enter_async_context(ZetaDynamicRouter(settings, journal=journal))
        endpoint = await start_endpoint(router, settings, args.listen, args.token, None if args.no_access_log else _print_access_line)
        stack.push_async_callback(endpoint.stop)
        settle_heap()
        print(endpoint.url, flush=True)
        simulated = " (simulated fleet)" if args.demo else ""
        print(f"zeta-console serve: Ollama API at {endpoint.url}{simulated}; Ctrl-C to stop", file=sys.stderr, flush=True)
        await _until_interrupted()
    return 0


def _print_access_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _settings(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Settings:
    if args.demo:
        from zeta_console.demo import demo_fleet

        _, settings = await stack.enter_async_context(demo_fleet())
        return settings
    from zeta_console.config import load_settings

    return load_settings(args.config)


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

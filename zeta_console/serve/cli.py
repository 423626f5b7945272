"""`zeta-console serve`: the fleet on Ollama's and OpenAI's APIs, headless, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable

from zeta_console.composition import build_router, open_journal
from zeta_console.demo_kind import DEMO_EMULATED, DEMO_REAL
from zeta_console.heap import settle_heap
from zeta_console.serve.endpoint import Listener, open_listener, serve_on
from zeta_console.settings import Settings

# A proxied request leaves no cyclic garbage (its objects are freed by reference counting), yet with
# requests in flight the young generation's count passes the default 700 every ~15 requests, and each
# young collection walks the objects of every request in flight (~0.3-0.4 ms): ~20-30 us of CPU per
# request. At 7,000 it almost never runs under load (docs/BENCHMARKS.md, proxy overhead).
GC_YOUNG_THRESHOLD = 7_000


def run_serve_command(args: argparse.Namespace) -> int:
    if args.listen is None:  # no --listen: the configuration's serve.listen
        from zeta_console.config import load_settings

        args.listen = (Settings() if args.demo else load_settings(args.config)).serve.listen
    # Refuse a bad, unsafe or busy address before starting anything.
    with contextlib.closing(open_listener(args.listen, args.token)) as listener:
        return asyncio.run(_serve(args, listener))


async def _serve(args: argparse.Namespace, listener: Listener) -> int:
    # Installed for the whole run, so a second Ctrl-C during the drain cuts it short instead of
    # interrupting the unwinding (which would lose the journal's last records).
    with _StopSignals() as signals:
        async with contextlib.AsyncExitStack() as stack:
            settings = await _settings(args, stack)
            journal = open_journal(stack, settings, demo=bool(args.demo))  # closed last: writes the records of the requests cut below
            router = await stack.enter_async_context(build_router(settings, journal=journal))
            access_log = None if args.no_access_log else _print_access_line
            endpoint = await serve_on(router, settings, listener, access_log)
            stack.push_async_callback(endpoint.stop)
            settle_heap(young_threshold=GC_YOUNG_THRESHOLD)
            print(endpoint.url, flush=True)
            simulated = {DEMO_REAL: " (real llama.cpp demo fleet)", DEMO_EMULATED: " (simulated fleet)"}.get(args.demo, "")
            print(f"zeta-console serve: Ollama API at {endpoint.url}{simulated}; Ctrl-C to stop", file=sys.stderr, flush=True)
            await signals.first.wait()
            signals.when_repeated(endpoint.cut)
            grace = f"{settings.serve.drain_grace_s:g}s"
            print(f"zeta-console serve: stopping; requests in flight have {grace} to finish (Ctrl-C again cuts them)", file=sys.stderr)
    return 0


def _print_access_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _settings(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Settings:
    if args.demo:
        from zeta_console.demo import open_demo, to_stderr

        return (await stack.enter_async_context(open_demo(real=args.demo == DEMO_REAL, report=to_stderr))).settings
    from zeta_console.config import load_settings, warn_unset_keys

    settings = load_settings(args.config)
    warn_unset_keys(settings)
    return settings


class _StopSignals:
    """SIGINT and SIGTERM: the first asks for a graceful stop, a later one for `when_repeated`'s action."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self._repeated = False
        self._on_repeat: Callable[[], None] = lambda: None

    def when_repeated(self, action: Callable[[], None]) -> None:
        self._on_repeat = action
        if self._repeated:
            action()

    def _received(self) -> None:
        if self.first.is_set():
            self._repeated = True
            self._on_repeat()
        self.first.set()

    def __enter__(self) -> _StopSignals:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            loop.add_signal_handler(signum, self._received)
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            loop.remove_signal_handler(signum)

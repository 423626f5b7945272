"""SIGTERM and SIGHUP end the console as ctrl+q does: the terminal restored (when it is still there),
the router, load generator and endpoint stopped, a demo's servers stopped, the journal closed.

Python leaves both at their inherited disposition, and Textual handles neither: SIGTERM killed the
console on the spot (terminal left in raw mode, nothing stopped in order), and where a parent had
set them to be ignored (nohup, some supervisors and harnesses; exec keeps SIG_IGN), a closed
terminal left the console running headless and SIGTERM did nothing; only SIGKILL ended it. The
handlers here are installed whatever was inherited.

They are plain `signal.signal` handlers, not the event loop's: once the terminal is gone, Textual's
writer thread dies on the first failed write and the next frames fill its bounded queue, so the
loop itself can block for good in `Queue.put`. A Python handler still runs there (the lock wait is
interruptible); it asks the loop to stop and starts a watchdog thread that ends the process with
status 128+signal if it is still there `FORCE_AFTER_S` later, or at a second signal. Servers
launched by the console end with it either way (parent-death signal, realfleet/llama_server.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
FORCE_AFTER_S = 5.0


def exit_status(signum: int) -> int:
    """A shell's convention for a process ended by a signal."""
    return 128 + signum


class StopOnSignals:
    """While entered, SIGTERM / SIGHUP call `stop(status)` once on the loop; a second one, or a process
    still running `force_after_s` later, ends the process with that status at once."""

    def __init__(self, stop: Callable[[int], None], force_after_s: float = FORCE_AFTER_S) -> None:
        self._stop = stop
        self._force_after_s = force_after_s
        self._received: int | None = None
        self._watchdog: threading.Timer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        status = exit_status(signum)
        if self._received is not None:
            os._exit(status)
        self._received = signum
        self._watchdog = threading.Timer(self._force_after_s, os._exit, (status,))
        self._watchdog.daemon = True
        self._watchdog.start()
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._stop, status)

    def __enter__(self) -> StopOnSignals:
        self._loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        # A running watchdog stays: the interpreter's own teardown (threads joined at exit) may block too.

"""SIGTERM and SIGHUP end the console as ctrl+q does: the terminal restored (when it is still there),
the router, load generator and endpoint stopped, a demo's servers stopped, the journal closed.

Python leaves both at their inherited disposition, and Textual handles neither: SIGTERM killed the
console on the spot (terminal left in raw mode, nothing stopped in order), and where a parent had
set them to be ignored (nohup, some supervisors and harnesses; exec keeps SIG_IGN), a closed
terminal left the console running headless and SIGTERM did nothing; only SIGKILL ended it. The
handlers here are installed whatever was inherited. A stop that has not finished `FORCE_AFTER_S`
after the signal (a wedged loop) ends the process with the signal's default action, from a thread.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
FORCE_AFTER_S = 10.0


def exit_status(signum: int) -> int:
    """A shell's convention for a process ended by a signal."""
    return 128 + signum


def _die_by(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


class StopOnSignals:
    """While entered, SIGTERM / SIGHUP call `stop(status)` once on the loop; a second one, or a
    stop still unfinished after `force_after_s`, ends the process by the signal's default action."""

    def __init__(self, stop: Callable[[int], None], force_after_s: float = FORCE_AFTER_S) -> None:
        self._stop = stop
        self._force_after_s = force_after_s
        self._received: int | None = None
        self._watchdog: threading.Timer | None = None

    def _on_signal(self, signum: int) -> None:
        if self._received is not None:
            _die_by(signum)
            return
        self._received = signum
        self._watchdog = threading.Timer(self._force_after_s, _die_by, (signum,))
        self._watchdog.daemon = True
        self._watchdog.start()
        self._stop(exit_status(signum))

    def __enter__(self) -> StopOnSignals:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)  # back to SIG_DFL: a signal now ends the process at once
        if self._watchdog is not None:
            self._watchdog.cancel()

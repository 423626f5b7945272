"""llama.cpp's own server (`llama-server`, from the `xllamacpp` wheel) as a subprocess on loopback.

`python -m zeta_console.realfleet.llama_server --model PATH --alias NAME` runs one server in the
foreground: it prints `listening <url>` on stdout once the model is loaded and the socket bound,
and exits on SIGTERM or SIGINT. `LlamaServer` starts one and waits for that line, so a test or
the demo knows the server is ready without polling it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import importlib.util
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from zeta_console.errors import UserError

READY_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass(frozen=True)
class LlamaServerOptions:
    """How one server runs. One thread and one slot each: two servers share two cores."""

    model: Path
    alias: str
    threads: int = 1
    parallel: int = 1  # slots: requests beyond these are deferred (queued) by the server
    context: int = 2048  # tokens per slot
    embedding: bool = False  # serve /v1/embeddings (and nothing else, as llama-server does)
    port: int = 0  # 0: any free port, reported on the ready line

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "zeta_console.realfleet.llama_server", "--model", str(self.model), "--alias", self.alias,
                "--threads", str(self.threads), "--parallel", str(self.parallel), "--context", str(self.context), "--port", str(self.port),
                "--parent", str(os.getpid())]
        return argv + (["--embedding"] if self.embedding else [])


class LlamaServer:
    """One running llama.cpp server process; a context manager that stops it on exit."""

    def __init__(self, options: LlamaServerOptions, log_path: Path | None = None) -> None:
        self.options = options
        self.log_path = log_path
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Start the server and return its URL once it answers."""
        self.launch()
        return self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Start the process and return at once: several servers then load side by side, and
        `stop()` reaches a process launched here even while another thread waits in `wait_ready`.
        On Linux the server ends when the thread that launched it does (the parent-death signal
        is per thread): launch from the main thread."""
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                self.options.argv(), stdout=subprocess.PIPE, stderr=log, text=True
            )
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]  # the child holds its own descriptor

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Block until the launched server prints its URL, and return it."""
        self.url = self._ready_url(timeout_s)
        return self.url

    def _ready_url(self, timeout_s: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._process.stdout], [], [], left)
            if not readable:
                break
            line = self._process.stdout.readline()
            if not line:  # the process ended before it was ready
                code = self._process.wait()
                raise UserError(f"llama.cpp server for {self.options.alias} exited with status {code} before it was ready"
                                + (f"; its log: {self.log_path}" if self.log_path else ""))
            if line.startswith("listening "):
                return line.split(" ", 1)[1].strip()
        self.stop()
        raise UserError(f"llama.cpp server for {self.options.alias} was not ready within {timeout_s:.0f} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (SIGKILL by default: a crash, not a shutdown) and reap the process."""
        if self._process and self._process.poll() is None:
            self._process.send_signal(sig)
            self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._process and self._process.stdout:
            self._process.stdout.close()

    def __enter__(self) -> LlamaServer:
        if not self.url:
            self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()


async def start_together(servers: Iterable[LlamaServer], stack: AsyncExitStack) -> None:
    """Launch every server here (in the main thread, see `launch`), each one's stop on `stack` first,
    and wait until all are ready, loading side by side; the first failure is raised and `stack`
    stops them all, even when the wait is cancelled."""
    servers = list(servers)
    for server in servers:
        stack.callback(server.stop)
        server.launch()
    ready = await asyncio.gather(*(asyncio.to_thread(server.wait_ready) for server in servers), return_exceptions=True)
    if failed := [outcome for outcome in ready if isinstance(outcome, BaseException)]:
        raise failed[0]


def require_xllamacpp(what: str) -> None:
    """Refuse in one line, before anything starts, when llama.cpp's server is not installed."""
    if importlib.util.find_spec("xllamacpp") is None:
        raise UserError(f"{what} needs llama.cpp's server (xllamacpp), not installed: pip install 'zeta-console[real]'", exit_code=2)


def _serve(arguments: argparse.Namespace) -> None:
    try:
        import xllamacpp
    except ImportError:
        raise SystemExit("llama.cpp servers need the xllamacpp package: pip install 'zeta-console[real]'") from None
    params = xllamacpp.CommonParams()
    params.model.path = arguments.model
    params.model_alias = {arguments.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = arguments.port
    params.n_parallel = arguments.parallel
    params.n_ctx = arguments.context * arguments.parallel  # llama-server splits -c among its slots
    params.cpuparams.n_threads = arguments.threads
    params.cpuparams_batch.n_threads = arguments.threads
    params.endpoint_metrics = True
    params.endpoint_slots = True
    params.embedding = arguments.embedding
    if arguments.embedding:  # a chat model has no pooling of its own; OpenAI's /v1/embeddings needs one
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


def _end_with(parent: int) -> None:
    """Linux: SIGTERM this server when its parent dies, even by SIGKILL or a closed terminal, so no
    server outlives the console, test or benchmark that started it."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the signal was armed
        raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m zeta_console.realfleet.llama_server", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--embedding", action="store_true")
    parser.add_argument("--parent", type=int, help="stop when this process dies")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # taken by sigwait, in every thread
    arguments = parser.parse_args()
    if arguments.parent is not None:
        _end_with(arguments.parent)
    _serve(arguments)


if __name__ == "__main__":
    main()

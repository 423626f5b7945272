"""One line per HTTP request for `zeta-console serve`'s stderr: who asked for what, where the
router sent it, how it ended and how long it took.

    2026-12-06 23:59:01.123 127.0.0.1 "POST /api/chat" model=qwen3:14b endpoint=reasoner@local status=200 ttft=0.412s total=3.201s

The handlers note what only they know (the model asked for, the routed request) in the
request's `Exchange`; the status and the total time are read at the HTTP layer, so requests
refused before any handler (403, 401, 413) get their line too. `-` marks what does not apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeta_console.ollama_api.errors import CLIENT_CLOSED_REQUEST
from zeta_console.router.api import Decision, RoutedAnswer, RoutedRelay
from zeta_console.serve.relay import last_endpoint

_EXCHANGE = "zeta.exchange"


@dataclass
class Exchange:
    """What the handlers learned about one request."""

    asked_model: str | None = None
    routed: RoutedAnswer | RoutedRelay | None = None  # chat / generate: its decision, and its record (TTFT) once finished
    embedded: Decision | None = None  # embed: the decision of a successful request

    @staticmethod
    def of(scope: Scope) -> Exchange:
        exchange: Exchange = scope.setdefault("state", {}).setdefault(_EXCHANGE, Exchange())
        return exchange

    def endpoint(self) -> str | None:
        return last_endpoint(self.routed.decision if self.routed else self.embedded)

    def ttft_s(self) -> float | None:
        record = self.routed.record if self.routed else None
        return record.ttft_s if record else None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"


def access_line(scope: Scope, started_at: float, status: int, total_s: float) -> str:
    exchange = Exchange.of(scope)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started_at)) + f".{int(started_at % 1 * 1000):03d}"
    client = scope["client"][0] if scope.get("client") else "-"
    return (
        f'{stamp} {client} "{scope["method"]} {scope["path"]}" model={exchange.asked_model or "-"} '
        f"endpoint={exchange.endpoint() or '-'} status={status} ttft={_seconds(exchange.ttft_s())} total={_seconds(total_s)}"
    )


class AccessLog:
    """Pure ASGI middleware: after each HTTP request, `write` its line."""

    def __init__(self, app: ASGIApp, *, write: Callable[[str], None]) -> None:
        self.app = app
        self.write = write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at, started = time.time(), time.perf_counter()
        status: int | None = None

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        except Exception:
            status = status or 500  # the server answers it
            raise
        finally:
            # No answer started and nothing failed: the client left before its answer.
            self.write(access_line(scope, started_at, status or CLIENT_CLOSED_REQUEST, time.perf_counter() - started))

"""The emulator's own HTTP control API, outside /api/ (Ollama has nothing there):

    GET  /sim/state                       the true internal state (what SimHost.state() returns)
    POST /sim/fault  {"model": M, <Fault fields>}   set M's fault (replaces the previous one)
    POST /sim/clear  {"model": M}         clear M's fault; without "model": every fault
    POST /sim/down   {"for_s": S}         refuse connections, back by itself after S simulated s
    POST /sim/unload {"model": M}         unload M as keep_alive 0 would

Errors are `{"error": ...}` with 400 (bad body or field) or 404 (unknown model).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from zeta_console.sim.faults import Fault

if TYPE_CHECKING:
    from zeta_console.sim.server import SimHost


class _BadRequest(Exception):
    pass


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        parsed = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as error:
        raise _BadRequest(f"invalid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise _BadRequest("expected a JSON object")
    return parsed


def _optional_model(fields: dict[str, Any]) -> str | None:
    model = fields.pop("model", None)
    if model is not None and not isinstance(model, str):
        raise _BadRequest("model must be a string")
    return model


def _required_model(fields: dict[str, Any]) -> str:
    model = _optional_model(fields)
    if not model:
        raise _BadRequest("model is required")
    return model


def control_routes(host: SimHost) -> list[BaseRoute]:
    async def state(request: Request) -> Response:
        return JSONResponse(host.state())

    async def fault(fields: dict[str, Any]) -> Response:
        model = _required_model(fields)
        try:
            host.set_fault(model, Fault.from_mapping(fields))
        except ValueError as error:
            raise _BadRequest(str(error)) from None
        return JSONResponse({"ok": True})

    async def clear(fields: dict[str, Any]) -> Response:
        host.clear_faults(_optional_model(fields))
        return JSONResponse({"ok": True})

    async def down(fields: dict[str, Any]) -> Response:
        seconds = fields.get("for_s")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise _BadRequest("for_s must be a positive number of seconds")
        wall_s = seconds / host.service.time_scale
        return JSONResponse({"ok": True, "down_for_s": wall_s}, background=BackgroundTask(host.down_for, wall_s))

    async def unload(fields: dict[str, Any]) -> Response:
        await host.unload(_required_model(fields))
        return JSONResponse({"ok": True})

    def command(path: str, handler: Any) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(await _json_object(request))  # type: ignore[no-any-return]  # every handler returns a Response
            except _BadRequest as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            except KeyError as error:
                return JSONResponse({"error": str(error.args[0])}, status_code=404)

        return Route(path, endpoint, methods=["POST"])

    return [
        Route("/sim/state", state, methods=["GET"]),
        command("/sim/fault", fault),
        command("/sim/clear", clear),
        command("/sim/down", down),
        command("/sim/unload", unload),
    ]

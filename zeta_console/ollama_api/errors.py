"""Ollama's error envelope: `{"error": "..."}` with an HTTP status (ollama-api.md §2.1)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before its answer: only logs and metrics see it


class OllamaJSONResponse(JSONResponse):
    media_type = "application/json; charset=utf-8"


class ApiError(Exception):
    """Raised anywhere while handling a request; the app turns it into Ollama's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self, headers: dict[str, str] | None = None) -> OllamaJSONResponse:
        return error_response(self.status, self.message, headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> OllamaJSONResponse:
    body: dict[str, Any] = {"error": message}
    return OllamaJSONResponse(body, status_code=status, headers=headers)


async def client_gone(request: Request, error: Exception) -> Response:
    """The handler for Starlette's ClientDisconnect: the client left mid-upload, nobody to answer, nothing to report."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)

"""Ollama's error envelope: `{"error": "..."}` with an HTTP status (ollama-api.md §2.1)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


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

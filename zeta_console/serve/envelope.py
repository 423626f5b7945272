"""How an error reaches the client, in the dialect of the route it called.

Ollama's routes answer `{"error": "..."}` and, once an NDJSON stream has started, one such line
(ollama-api.md §2.1, §2.4). The OpenAI routes (`/v1/...`) answer OpenAI's envelope as Ollama's
own `/v1` does (backends-api.md §1.4, §3): `{"error": {"message", "type", "param": null,
"code": null}}`, type `invalid_request_error` (400), `not_found_error` (404) or `api_error`; once
an SSE stream has started, one `data: {"error": ...}` event. The route's path picks the dialect,
so the guard, the exception handlers and the shutdown path all answer alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NDJSON = b"application/x-ndjson"
SSE = b"text/event-stream"
OPENAI_PREFIX = "/v1/"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def ollama_error(message: str) -> dict[str, Any]:
    return {"error": message}


def openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@dataclass(frozen=True)
class Envelope:
    """One dialect's error shapes and the content type of its streams."""

    stream_type: bytes
    openai: bool

    def error_body(self, status: int, message: str) -> bytes:
        return _json(openai_error(status, message) if self.openai else ollama_error(message))

    def stream_error(self, message: str) -> bytes:
        """A failure after the stream started (status 200 already sent)."""
        if self.openai:
            return b"data: " + _json(openai_error(500, message)) + b"\n\n"
        return _json(ollama_error(message)) + b"\n"


OLLAMA = Envelope(stream_type=NDJSON, openai=False)
OPENAI = Envelope(stream_type=SSE, openai=True)


def envelope_for(path: str) -> Envelope:
    return OPENAI if path.startswith(OPENAI_PREFIX) else OLLAMA

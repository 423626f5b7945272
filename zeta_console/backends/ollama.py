"""The only code that talks to Ollama: the official async client with explicit timeouts.

Every client exception is mapped to one `BackendError` with an `ErrorKind` (ollama-api.md
§2.6) by `map_error`, so the router reasons about kinds, never about httpx or pydantic. Chat
and generate always stream upstream (time to first token is measured). Streams are handed out
as the client's own async generators (cheapest per chunk): their consumer maps their errors
with `map_error` and closes them with `aclose()` when it stops early (§4.7), which makes Ollama
stop generating and free the slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import ollama
import pydantic

from zeta_console.router.api import ErrorKind
from zeta_console.settings import Timeouts

NS = 1e-9
CONNECTION_ERRORS = (httpx.ConnectError, ConnectionError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class BackendError(Exception):
    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}" + (f" (HTTP {self.status})" if self.status and self.status > 0 else "")


def _kind_for_status(status: int) -> ErrorKind:
    if status == 503 or status == 429:
        return ErrorKind.BUSY
    if status == 404:
        return ErrorKind.NOT_FOUND
    if 400 <= status < 500:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.SERVER_ERROR


def map_error(error: BaseException, *, mid_stream: bool = False) -> BackendError:
    """Turn an exception raised by the ollama client into a BackendError (ollama-api.md §2.6).

    `mid_stream`: chunks were already received, so a broken connection means the answer is cut.
    """
    if isinstance(error, BackendError):
        return error
    if isinstance(error, ollama.ResponseError):
        if error.status_code == -1:  # an {"error": ...} line inside a 200 stream
            return BackendError(ErrorKind.FAILED_MID_STREAM, error.error)
        return BackendError(_kind_for_status(error.status_code), error.error, error.status_code)
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return BackendError(ErrorKind.TIMED_OUT, f"{type(error).__name__}: {error}".rstrip(": "))
    if isinstance(error, CONNECTION_ERRORS):
        kind = ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.UNAVAILABLE
        return BackendError(kind, _describe_transport_error(error))
    if isinstance(error, pydantic.ValidationError):
        return BackendError(ErrorKind.BAD_REQUEST, f"invalid request or reply: {error.errors()[0]['msg']}")
    if isinstance(error, (httpx.HTTPError, ValueError)):  # ValueError: a malformed NDJSON line
        return BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.SERVER_ERROR, str(error) or type(error).__name__)
    raise error


def _describe_transport_error(error: BaseException) -> str:
    """The root cause in a few words ("connection refused"), not httpx's generic wrapper text."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


@dataclass(frozen=True)
class FinalTimings:
    """The metrics of a final (`done`) chunk, in seconds; None where the server left them out."""

    total_s: float | None
    load_s: float | None
    prompt_tokens: int | None
    prefill_s: float | None
    output_tokens: int | None
    decode_s: float | None

    @property
    def decode_tps(self) -> float | None:
        if self.output_tokens and self.decode_s:
            return self.output_tokens / self.decode_s
        return None

    @property
    def prefill_s_per_token(self) -> float | None:
        if self.prompt_tokens and self.prefill_s is not None:
            return self.prefill_s / self.prompt_tokens
        return None


def _seconds(value: int | None) -> float | None:
    return None if value is None else value * NS


def final_timings(chunk: ollama.ChatResponse | ollama.GenerateResponse | ollama.EmbedResponse) -> FinalTimings:
    return FinalTimings(
        total_s=_seconds(chunk.total_duration),
        load_s=_seconds(chunk.load_duration),
        prompt_tokens=chunk.prompt_eval_count,
        prefill_s=_seconds(chunk.prompt_eval_duration),
        output_tokens=chunk.eval_count,
        decode_s=_seconds(chunk.eval_duration),
    )


@dataclass(frozen=True)
class ResidentModel:
    """One row of /api/ps."""

    model: str
    size_bytes: int | None
    size_vram_bytes: int | None
    expires_at: float | None  # wall clock


@dataclass(frozen=True)
class InstalledModel:
    """One row of /api/tags: a model the host has pulled."""

    name: str  # as Ollama reports it, tag included ("llama3.1:8b", "nomic-embed-text:latest")
    size_bytes: int | None  # on disk
    parameter_size: str | None  # "8.0B"
    family: str | None


@dataclass(frozen=True)
class ModelFacts:
    """What /api/show says about a model."""

    capabilities: frozenset[str] | None  # None when the server does not report them
    parameter_size: str | None
    parameter_count: int | None  # model_info general.parameter_count


Chunk = TypeVar("Chunk", ollama.ChatResponse, ollama.GenerateResponse)


class OllamaBackend:
    """One Ollama host. Holds one `ollama.AsyncClient` per event loop (a client must not cross loops)."""

    def __init__(self, url: str, timeouts: Timeouts) -> None:
        self.url = url.rstrip("/")
        # The router enforces first-token, idle and total deadlines itself; the read timeout is only
        # a backstop so that no socket read can hang forever.
        self._timeout = httpx.Timeout(connect=timeouts.connect_s, read=timeouts.total_s, write=timeouts.connect_s, pool=timeouts.total_s)
        self._clients: dict[asyncio.AbstractEventLoop, ollama.AsyncClient] = {}

    def _client(self) -> ollama.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for stale in [other for other in self._clients if other.is_closed()]:
                del self._clients[stale]
            client = ollama.AsyncClient(host=self.url, timeout=self._timeout)
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the client of the running loop (clients of other loops die with their loop)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    async def chat(self, model: str, messages: Sequence[Mapping[str, Any]], **fields: Any) -> AsyncIterator[ollama.ChatResponse]:
        """Open a streamed chat. Fields: think, options, format, keep_alive, tools (None = not sent)."""
        return await self._open_stream(self._client().chat, model=model, messages=messages, **fields)

    async def generate(self, model: str, prompt: str, **fields: Any) -> AsyncIterator[ollama.GenerateResponse]:
        """Open a streamed generation. Fields: system, suffix, images, raw, template, think, options, format, keep_alive."""
        return await self._open_stream(self._client().generate, model=model, prompt=prompt, **fields)

    @staticmethod
    async def _open_stream(call: Any, **request: Any) -> AsyncIterator[Any]:
        """The client's own stream, unwrapped: a wrapping generator would cost a call on every chunk.

        No I/O happens until the first chunk is awaited. Its exceptions are the client's: the
        consumer passes them through `map_error` (with `mid_stream=True` once a chunk arrived)
        and must `aclose()` the stream when it stops early (ollama-api.md §4.7)."""
        try:
            return await call(stream=True, **{key: value for key, value in request.items() if value is not None})  # type: ignore[no-any-return]
        except Exception as error:
            raise map_error(error) from error

    async def embed(
        self,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        truncate: bool | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> ollama.EmbedResponse:
        try:
            return await self._client().embed(model=model, input=input, dimensions=dimensions, truncate=truncate, options=options, keep_alive=keep_alive)
        except Exception as error:
            raise map_error(error) from error

    async def version(self) -> str:
        """GET /api/version with raw httpx (the client has no health call): the liveness probe."""
        try:
            response = await self._client()._client.get("/api/version")
            response.raise_for_status()
            return str(response.json().get("version", "?"))
        except httpx.HTTPStatusError as error:
            raise BackendError(_kind_for_status(error.response.status_code), error.response.text, error.response.status_code) from error
        except Exception as error:
            raise map_error(error) from error

    async def ps(self) -> tuple[ResidentModel, ...]:
        try:
            reply = await self._client().ps()
        except Exception as error:
            raise map_error(error) from error
        return tuple(
            ResidentModel(
                model=row.model or row.name or "",
                size_bytes=int(row.size) if row.size is not None else None,
                size_vram_bytes=int(row.size_vram) if row.size_vram is not None else None,
                expires_at=_wall_clock(row.expires_at),
            )
            for row in reply.models
        )

    async def installed(self) -> tuple[InstalledModel, ...]:
        """GET /api/tags: every model the host has pulled."""
        try:
            reply = await self._client().list()
        except Exception as error:
            raise map_error(error) from error
        return tuple(
            InstalledModel(
                name=row.model or "",
                size_bytes=int(row.size) if row.size is not None else None,
                parameter_size=row.details.parameter_size if row.details else None,
                family=row.details.family if row.details else None,
            )
            for row in reply.models
        )

    async def show(self, model: str) -> ModelFacts:
        try:
            reply = await self._client().show(model)
        except Exception as error:
            raise map_error(error) from error
        count = (reply.modelinfo or {}).get("general.parameter_count")
        return ModelFacts(
            capabilities=frozenset(reply.capabilities) if reply.capabilities else None,
            parameter_size=reply.details.parameter_size if reply.details else None,
            parameter_count=count if isinstance(count, int) else None,
        )

    async def capabilities(self, model: str) -> frozenset[str] | None:
        """Capabilities reported by /api/show; None when the server does not report them."""
        return (await self.show(model)).capabilities


def _wall_clock(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class Backends:
    """The backends of a fleet, one per host name."""

    def __init__(self, hosts: Mapping[str, str], timeouts: Timeouts) -> None:
        self._by_host = {name: OllamaBackend(url, timeouts) for name, url in hosts.items()}

    def __getitem__(self, host: str) -> OllamaBackend:
        return self._by_host[host]

    async def aclose(self) -> None:
        for backend in self._by_host.values():
            await backend.aclose()

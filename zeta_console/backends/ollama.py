"""The Ollama backend: the official async client with explicit timeouts, in neutral types.

Every client exception is mapped to one `BackendError` with an `ErrorKind` (ollama-api.md
§2.6) by `map_error`, so the router reasons about kinds, never about httpx or pydantic. Chat
and generate always stream upstream (time to first token is measured); each chunk becomes a
`Delta`, the `done` chunk's metrics its `FinalTimings`. Closing a stream with `aclose()` closes
the client's own stream, which makes Ollama stop generating and free the slot (§4.7).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
import ollama
import pydantic

from zeta_console.backends.clients import PerLoop, describe_transport_error
from zeta_console.backends.types import (
    BackendError,
    Delta,
    DeltaStream,
    Embeddings,
    ErrorKind,
    FinalTimings,
    InstalledModel,
    ModelFacts,
    QueueSignals,
    ResidentModel,
    ToolCall,
    kind_for_status,
)
from zeta_console.settings import HostConfig, Timeouts

NS = 1e-9
CONNECTION_ERRORS = (httpx.ConnectError, ConnectionError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
Chunk = TypeVar("Chunk", ollama.ChatResponse, ollama.GenerateResponse)


def map_error(error: BaseException, *, mid_stream: bool = False) -> BackendError:
    """Turn an exception raised by the ollama client into a BackendError (ollama-api.md §2.6).

    `mid_stream`: chunks were already received, so a broken connection means the answer is cut.
    """
    if isinstance(error, BackendError):
        return error
    if isinstance(error, ollama.ResponseError):
        if error.status_code == -1:  # an {"error": ...} line inside a 200 stream
            return BackendError(ErrorKind.FAILED_MID_STREAM, error.error)
        return BackendError(kind_for_status(error.status_code), error.error, error.status_code)
    if isinstance(error, (httpx.TimeoutException, TimeoutError)):
        return BackendError(ErrorKind.TIMED_OUT, f"{type(error).__name__}: {error}".rstrip(": "))
    if isinstance(error, CONNECTION_ERRORS):
        kind = ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.UNAVAILABLE
        return BackendError(kind, describe_transport_error(error))
    if isinstance(error, pydantic.ValidationError):
        return BackendError(ErrorKind.BAD_REQUEST, f"invalid request or reply: {error.errors()[0]['msg']}")
    if isinstance(error, (httpx.HTTPError, ValueError)):  # ValueError: a malformed NDJSON line
        return BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.SERVER_ERROR, str(error) or type(error).__name__)
    raise error


def _seconds(value: int | None) -> float | None:
    return None if value is None else value * NS


def final_timings(reply: ollama.ChatResponse | ollama.GenerateResponse | ollama.EmbedResponse) -> FinalTimings:
    return FinalTimings(
        total_s=_seconds(reply.total_duration),
        load_s=_seconds(reply.load_duration),
        prompt_tokens=reply.prompt_eval_count,
        prefill_s=_seconds(reply.prompt_eval_duration),
        output_tokens=reply.eval_count,
        decode_s=_seconds(reply.eval_duration),
        done_reason=reply.done_reason,
    )


def _tool_calls(calls: Sequence[ollama.Message.ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(call.function.name, call.function.arguments) for call in calls)


def chat_delta(chunk: ollama.ChatResponse) -> Delta:
    message = chunk.message
    return Delta(
        message.content or "",
        message.thinking or "",
        _tool_calls(message.tool_calls) if message.tool_calls else (),
        final_timings(chunk) if chunk.done else None,
    )


def generate_delta(chunk: ollama.GenerateResponse) -> Delta:
    return Delta(chunk.response or "", chunk.thinking or "", (), final_timings(chunk) if chunk.done else None)


async def _deltas(chunks: AsyncGenerator[Chunk, None], convert: Callable[[Chunk], Delta]) -> DeltaStream:
    """The client's stream as deltas, its errors as BackendError; closing this closes it."""
    mid_stream = False
    try:
        async for chunk in chunks:
            yield convert(chunk)
            mid_stream = True
    except Exception as error:
        raise map_error(error, mid_stream=mid_stream) from error
    finally:
        await chunks.aclose()


class OllamaBackend:
    """One Ollama host. Holds one `ollama.AsyncClient` per event loop (a client must not cross loops)."""

    def __init__(self, host: HostConfig, timeouts: Timeouts) -> None:
        self.url = host.url.rstrip("/")
        # The router enforces first-token, idle and total deadlines itself; the read timeout is only
        # a backstop so that no socket read can hang forever.
        timeout = httpx.Timeout(connect=timeouts.connect_s, read=timeouts.total_s, write=timeouts.connect_s, pool=timeouts.total_s)
        self._clients = PerLoop(lambda: ollama.AsyncClient(host=self.url, timeout=timeout))

    def _client(self) -> ollama.AsyncClient:
        return self._clients.get()

    async def aclose(self) -> None:
        client = self._clients.pop()
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]  # the ollama client leaves close() unannotated

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> DeltaStream:
        fields = {"tools": tools, "think": think, "options": options, "format": format, "keep_alive": keep_alive}
        return _deltas(await self._open_stream(self._client().chat, model=model, messages=messages, **fields), chat_delta)

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        suffix: str | None = None,
        images: Sequence[bytes] | None = None,
        raw: bool | None = None,
        template: str | None = None,
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        format: str | Mapping[str, Any] | None = None,
        keep_alive: float | str | None = None,
    ) -> DeltaStream:
        fields: dict[str, Any] = {"system": system, "suffix": suffix, "images": images, "raw": raw, "template": template}
        fields |= {"think": think, "options": options, "format": format, "keep_alive": keep_alive}
        chunks = await self._open_stream(self._client().generate, model=model, prompt=prompt, **fields)
        return _deltas(chunks, generate_delta)

    @staticmethod
    async def _open_stream(call: Callable[..., Any], **request: Any) -> AsyncGenerator[Any, None]:
        """The client's stream (no I/O happens until its first chunk is awaited); None fields are not sent."""
        try:
            sent = {key: value for key, value in request.items() if value is not None}
            chunks: AsyncGenerator[Any, None] = await call(stream=True, **sent)
            return chunks
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
    ) -> Embeddings:
        try:
            reply = await self._client().embed(
                model=model, input=input, dimensions=dimensions, truncate=truncate, options=options, keep_alive=keep_alive
            )
        except Exception as error:
            raise map_error(error) from error
        return Embeddings(reply.embeddings, final_timings(reply))

    async def version(self) -> str:
        """GET /api/version with raw httpx (the client has no health call): the liveness probe."""
        try:
            response = await self._client()._client.get("/api/version")
            response.raise_for_status()
            return f"ollama {response.json().get('version', '?')}"
        except httpx.HTTPStatusError as error:
            raise BackendError(kind_for_status(error.response.status_code), error.response.text, error.response.status_code) from error
        except Exception as error:
            raise map_error(error) from error

    async def loaded(self) -> tuple[ResidentModel, ...]:
        """GET /api/ps: the models in memory, with their size and keep-alive expiry."""
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

    def server_label(self) -> str:
        return "Ollama"

    def missing_advice(self, model: str) -> str:
        return f"`ollama pull {model}`, edit the config or run `zeta-console init`"

    async def queue_signals(self) -> QueueSignals | None:
        """Ollama exposes no queue or slot gauges (backends-api.md §8): the router counts its own."""
        return None


def _wall_clock(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None

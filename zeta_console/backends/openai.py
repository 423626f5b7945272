"""The OpenAI-compatible backend (llama.cpp's llama-server, vLLM, SGLang, LM Studio, Ollama's /v1):
the official `openai` client (`AsyncOpenAI`) with explicit timeouts and its own retries off (the
router fails over itself), in neutral types (backends-api.md §1, §2).

Chat streams `/v1/chat/completions` with `include_usage`; reasoning deltas (`reasoning_content`,
`reasoning`) become `Delta.thinking`; tool-call fragments are joined per index and handed out,
parsed, with the final delta, which carries `usage` and llama.cpp's `timings`. `generate` is a
chat turn (the server applies the model's template, as Ollama's /api/generate does) unless it
asks for `raw` text or a `suffix`: then `/v1/completions`, which continues the text as given.
Every client exception becomes one `BackendError` (`map_error`); closing a stream closes the HTTP
response, which makes the server stop generating and free its slot.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import openai
from openai import AsyncOpenAI, AsyncStream

from zeta_console.backends import telemetry
from zeta_console.backends.clients import PerLoop, causes, describe_transport_error
from zeta_console.backends.openai_usage import count as _count
from zeta_console.backends.openai_usage import final_timings
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

PLACEHOLDER_KEY = "no-key"  # the client refuses an empty key; servers without auth ignore it
MODELS_FRESH_S = 1.0  # one health round reads /v1/models once for version(), loaded() and installed()
# /v1/models `owned_by` -> the server's name (backends-api.md §3-§6); anything else is UNKNOWN_SERVER
SERVER_NAMES: Mapping[str, str] = {**telemetry.LABELS, "library": "Ollama /v1"}
UNKNOWN_SERVER = "OpenAI-compatible"
# Ollama options with an OpenAI request field of the same meaning; the rest (num_ctx, num_gpu, ...)
# are load-time settings of Ollama's runner and have no per-request equivalent.
OPTION_FIELDS: Mapping[str, str] = {
    "num_predict": "max_tokens",  # max_tokens, not max_completion_tokens: Ollama's /v1 reads only this one
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
EXTRA_OPTIONS = ("top_k", "min_p")  # not OpenAI's, but llama.cpp, vLLM and SGLang read them as is
NO_ANSWER = "Server disconnected without sending a response"  # httpcore's words for a connection closed before any reply
Answer = TypeVar("Answer")


def map_error(error: BaseException, *, mid_stream: bool = False) -> BackendError:
    """Turn an exception raised by the openai client into a BackendError (backends-api.md §1.4, §2).

    `mid_stream`: a delta was already handed out, so any failure cuts the answer."""
    if isinstance(error, BackendError):
        return error
    if isinstance(error, openai.APITimeoutError):  # a subclass of APIConnectionError: first
        return BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.TIMED_OUT, "the server did not answer in time")
    if isinstance(error, openai.APIConnectionError):
        return BackendError(ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.UNAVAILABLE, describe_transport_error(error))
    if isinstance(error, openai.APIStatusError):
        kind = ErrorKind.FAILED_MID_STREAM if mid_stream else kind_for_status(error.status_code)
        return BackendError(kind, _error_message(error), error.status_code)
    if isinstance(error, openai.APIError):  # an {"error": ...} event inside a 200 stream
        code = error.body.get("code") if isinstance(error.body, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else None
        kind = ErrorKind.FAILED_MID_STREAM if mid_stream else kind_for_status(status or 500)
        return BackendError(kind, _error_message(error), status)
    if isinstance(error, ValueError):  # an event that is not JSON, or not the shape of a chunk
        kind = ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.SERVER_ERROR
        return BackendError(kind, f"malformed reply: {error}")
    raise error


def _error_message(error: openai.APIError) -> str:
    """The server's own words: the envelope's message, else its raw text, else the client's."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    if isinstance(error, openai.APIStatusError) and error.response.text.strip():
        return error.response.text.strip()[:200]
    return error.message


async def _sent(call: Callable[[], Awaitable[Answer]]) -> Answer:
    """`call()`, sent once more on a new connection when the server closed the connection without
    a byte of answer: a kept-alive connection closed as the request went out on it (llama.cpp's
    HTTP threads drop idle ones). The request was not answered at all, so sending it again is safe,
    as browsers and Go's net/http do; the client's own retries are off, and the router's would
    count a failure against a healthy server."""
    try:
        return await call()
    except openai.APIConnectionError as error:
        if not any(str(cause).startswith(NO_ANSWER) for cause in causes(error)):
            raise
    return await call()


@dataclass
class _Reading:
    """What a stream has said so far beyond its text: the finish reason, usage, timings, tool calls."""

    done_reason: str | None = None
    usage: Any = None
    timings: Any = None
    tool_parts: dict[int, list[str]] = field(default_factory=dict)  # index -> name, then argument fragments

    def note(self, chunk: Any) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        timings = getattr(chunk, "timings", None)
        if timings is not None:
            self.timings = timings

    def _choice(self, chunk: Any) -> Any | None:
        """The chunk's first choice, its usage, timings and finish reason noted; None when it has none."""
        self.note(chunk)
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        self.done_reason = choice.finish_reason or self.done_reason
        return choice

    def chat_delta(self, chunk: Any) -> Delta | None:
        choice = self._choice(chunk)
        delta = choice.delta if choice is not None else None
        if delta is None:
            return None
        for call in delta.tool_calls or ():
            parts = self.tool_parts.setdefault(call.index, [""])
            if call.function is not None:
                parts[0] += call.function.name or ""
                parts.append(call.function.arguments or "")
        thinking = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        content = delta.content or ""
        thinking = thinking if isinstance(thinking, str) else ""
        return Delta(content, thinking) if content or thinking else None

    def completion_delta(self, chunk: Any) -> Delta | None:
        choice = self._choice(chunk)
        return Delta(choice.text) if choice is not None and choice.text else None

    def final(self, mid_stream: bool) -> Delta:
        if self.done_reason is None:  # EOF without a finish reason: the server died or cut the stream
            kind = ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.UNAVAILABLE
            raise BackendError(kind, "the stream ended before the answer was finished")
        return Delta(tool_calls=self._tool_calls(mid_stream), final=final_timings(self.usage, self.timings, self.done_reason))

    def _tool_calls(self, mid_stream: bool) -> tuple[ToolCall, ...]:
        calls = []
        for index in sorted(self.tool_parts):
            name, *fragments = self.tool_parts[index]
            text = "".join(fragments)
            try:
                arguments = json.loads(text) if text.strip() else {}
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                kind = ErrorKind.FAILED_MID_STREAM if mid_stream else ErrorKind.SERVER_ERROR
                raise BackendError(kind, f"the arguments of tool call {name!r} are not a JSON object: {text[:80]!r}")
            calls.append(ToolCall(name, arguments))
        return tuple(calls)


OpenStream = Callable[[], Awaitable[AsyncIterator[Any]]]


async def _deltas(open_stream: OpenStream, convert: Callable[[_Reading, Any], Delta | None]) -> DeltaStream:
    """The client's stream as deltas, opened when the first delta is awaited, its errors as
    BackendError; closing this closes the HTTP response, so the server frees the slot."""
    reading = _Reading()
    mid_stream = False
    stream: AsyncIterator[Any] | None = None
    try:
        stream = await _sent(open_stream)
        async for chunk in stream:
            try:
                delta = convert(reading, chunk)
            except (AttributeError, TypeError, IndexError) as error:  # the client builds chunks without validating them
                raise ValueError(f"a chunk of an unexpected shape: {str(chunk)[:80]}") from error
            if delta is not None:  # role-only and usage-only chunks carry nothing to hand out
                mid_stream = True
                yield delta
        yield reading.final(mid_stream)
    except BackendError:
        raise
    except Exception as error:
        raise map_error(error, mid_stream=mid_stream) from error
    finally:
        if isinstance(stream, AsyncStream):
            await stream.close()


def request_fields(
    options: Mapping[str, Any] | None, format: str | Mapping[str, Any] | None, think: bool | str | None
) -> dict[str, Any]:
    """Ollama's request fields as OpenAI's; those the OpenAI API lacks go in `extra_body`."""
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in (options or {}).items():
        if name == "num_predict" and isinstance(value, int) and value < 0:
            continue  # -1 (no limit) and -2 (fill the context) are the OpenAI default: no max_tokens
        if name in OPTION_FIELDS and value is not None:
            fields[OPTION_FIELDS[name]] = value
        elif name in EXTRA_OPTIONS and value is not None:
            extra[name] = value
    if format == "json":
        fields["response_format"] = {"type": "json_object"}
    elif isinstance(format, Mapping):
        fields["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": dict(format)}}
    if isinstance(think, str):
        fields["reasoning_effort"] = think
    elif think is False:  # the chat template's switch, as llama.cpp, vLLM and SGLang read it
        extra["chat_template_kwargs"] = {"enable_thinking": False}
    if extra:
        fields["extra_body"] = extra
    return fields


def openai_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ollama-style chat messages in OpenAI's shape: images as data-URI parts, tool calls with ids
    and JSON-text arguments, each tool result tied to the call it answers (by Ollama's `tool_name`,
    else in order); Ollama's `thinking` is not sent back."""
    converted: list[dict[str, Any]] = []
    unanswered: list[tuple[str, str]] = []  # (id, function name) of the last assistant turn's calls
    for number, message in enumerate(messages):
        turn: dict[str, Any] = {"role": message.get("role", "user"), "content": message.get("content") or ""}
        if message.get("images"):
            turn["content"] = [{"type": "text", "text": turn["content"]}, *map(_image_part, message["images"])]
        if message.get("tool_calls"):
            functions = [call["function"] for call in message["tool_calls"]]
            unanswered = [(f"call_{number}_{index}", function["name"]) for index, function in enumerate(functions)]
            turn["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(function.get("arguments") or {})}}
                for (call_id, name), function in zip(unanswered, functions, strict=True)
            ]
        if turn["role"] == "tool":
            turn["tool_call_id"] = message.get("tool_call_id") or _answered(unanswered, message.get("tool_name")) or f"call_{number}"
        converted.append(turn)
    return converted


def _answered(unanswered: list[tuple[str, str]], name: str | None) -> str | None:
    """The id of the call a tool result answers (its function's, else the first still open), now answered."""
    for index, (call_id, function) in enumerate(unanswered):
        if name is None or function == name:
            del unanswered[index]
            return call_id
    return unanswered.pop(0)[0] if unanswered else None


IMAGE_SIGNATURES = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"), (b"RIFF", "webp"))


def _image_part(image: bytes | str) -> dict[str, Any]:
    """An image (bytes, or base64 text as Ollama's API carries it) as an OpenAI data-URI part."""
    data = base64.b64encode(image).decode() if isinstance(image, bytes) else str(image)
    try:
        head = base64.b64decode(data[:24] + "=" * (-len(data[:24]) % 4))
    except ValueError:  # not base64: the server will say so
        head = b""
    kind = next((kind for signature, kind in IMAGE_SIGNATURES if head.startswith(signature)), "png")
    return {"type": "image_url", "image_url": {"url": f"data:image/{kind};base64,{data}"}}


def _entries_of(models: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [entry for entry in models.get("data") or [] if isinstance(entry, Mapping)]


def _server_name(entries: Sequence[Mapping[str, Any]]) -> str:
    """The server, named by what owns its models ("llama.cpp", "Ollama /v1"), else UNKNOWN_SERVER."""
    names = sorted({SERVER_NAMES.get(str(entry.get("owned_by", "")), UNKNOWN_SERVER) for entry in entries})
    return " / ".join(names) or UNKNOWN_SERVER


class OpenAIBackend:
    """One OpenAI-compatible host. Holds one `AsyncOpenAI` per event loop (a client must not cross loops)."""

    def __init__(self, host: HostConfig, timeouts: Timeouts) -> None:
        self.url = host.url.rstrip("/")
        key = os.environ.get(host.api_key_env, "") if host.api_key_env else ""
        # The router enforces first-token, idle and total deadlines itself; the read timeout is only
        # a backstop so that no socket read can hang forever.
        timeout = httpx2.Timeout(connect=timeouts.connect_s, read=timeouts.total_s, write=timeouts.connect_s, pool=timeouts.total_s)
        self._clients = PerLoop(
            lambda: AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key or PLACEHOLDER_KEY, timeout=timeout, max_retries=0)
        )
        self._models: tuple[float, Mapping[str, Any]] | None = None  # (monotonic time read, /v1/models reply)
        self._telemetry = telemetry.ServerTelemetry(self.url, host.telemetry, api_key=key or None)

    def _client(self) -> AsyncOpenAI:
        return self._clients.get()

    async def aclose(self) -> None:
        client = self._clients.pop()
        if client is not None:
            await client.close()
        await self._telemetry.aclose()

    # -- inference -----------------------------------------------------------------------------

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
        fields = request_fields(options, format, think)
        if tools:
            fields["tools"] = list(tools)
        return self._chat_stream(model, openai_messages(messages), fields)

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
        fields = request_fields(options, format, think)
        if raw or suffix:
            fields.pop("reasoning_effort", None)  # a text completion has no reasoning switch
            return self._completion_stream(model, prompt, fields | ({"suffix": suffix} if suffix else {}))
        turn: dict[str, Any] = {"role": "user", "content": prompt}
        if images:
            turn["images"] = images
        messages = [*([{"role": "system", "content": system}] if system else []), turn]
        return self._chat_stream(model, openai_messages(messages), fields)

    def _chat_stream(self, model: str, messages: list[dict[str, Any]], fields: dict[str, Any]) -> DeltaStream:
        def open_stream() -> Awaitable[AsyncIterator[Any]]:
            return self._client().chat.completions.create(  # type: ignore[call-overload,no-any-return]  # fields are checked by the server
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **fields
            )

        return _deltas(open_stream, _Reading.chat_delta)

    def _completion_stream(self, model: str, prompt: str, fields: dict[str, Any]) -> DeltaStream:
        def open_stream() -> Awaitable[AsyncIterator[Any]]:
            return self._client().completions.create(
                model=model, prompt=prompt, stream=True, stream_options={"include_usage": True}, **fields
            )

        return _deltas(open_stream, _Reading.completion_delta)

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
        started = time.monotonic()
        try:
            reply = await _sent(
                lambda: self._client().embeddings.create(
                    model=model,
                    input=input if isinstance(input, str) else list(input),
                    encoding_format="float",  # the client asks for base64 otherwise, which not every server speaks
                    dimensions=openai.omit if dimensions is None else dimensions,
                )
            )
        except Exception as error:
            raise map_error(error) from error
        vectors = [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]
        prompt_tokens = _count(getattr(reply.usage, "prompt_tokens", None))
        timings = FinalTimings(time.monotonic() - started, None, prompt_tokens, None, None, None)
        return Embeddings(vectors, timings)

    # -- what the host reports -----------------------------------------------------------------

    async def _get(self, path: str) -> Any:
        """GET a path of the server's (not under /v1 unless it says so), as parsed JSON."""
        try:
            return await _sent(lambda: self._client().get(f"{self.url}{path}", cast_to=object))
        except Exception as error:
            raise map_error(error) from error

    async def _model_list(self) -> Mapping[str, Any]:
        """GET /v1/models, reused for `MODELS_FRESH_S` (a health round asks three questions of it)."""
        now = time.monotonic()
        if self._models is not None and now - self._models[0] < MODELS_FRESH_S:
            return self._models[1]
        reply = await self._get("/v1/models")
        if not isinstance(reply, Mapping) or not isinstance(reply.get("data") or [], list):
            raise BackendError(ErrorKind.SERVER_ERROR, "GET /v1/models did not return a model list")
        self._models = (now, reply)
        return reply

    async def _entries(self) -> list[Mapping[str, Any]]:
        return _entries_of(await self._model_list())

    async def version(self) -> str:
        """The liveness probe: GET /v1/models, the server named by what owns its models."""
        return _server_name(await self._entries())

    def server_label(self) -> str:
        """The kind its `telemetry` names or found, else what owns the models of the last /v1/models read."""
        if (label := telemetry.LABELS.get(self._telemetry.kind or "")) is not None:
            return label
        return _server_name(_entries_of(self._models[1])) if self._models is not None else UNKNOWN_SERVER

    async def loaded(self) -> tuple[ResidentModel, ...]:
        """The models the server answers to now: every /v1/models entry, except those llama.cpp's
        router mode reports as not loaded."""
        return tuple(
            ResidentModel(model=name, size_bytes=_count(_meta(entry).get("size")), size_vram_bytes=None, expires_at=None)
            for entry in await self._entries()
            if _status(entry) in (None, "loaded")
            for name in _names(entry)
        )

    async def installed(self) -> tuple[InstalledModel, ...]:
        """Every /v1/models entry: what a tier's `model` may name."""
        return tuple(
            InstalledModel(name, _count(_meta(entry).get("size")), _parameter_size(_meta(entry).get("n_params")), None)
            for entry in await self._entries()
            for name in _names(entry)
        )

    async def show(self, model: str) -> ModelFacts:
        count = next((_count(_meta(entry).get("n_params")) for entry in await self._entries() if model in _names(entry)), None)
        return ModelFacts(capabilities=await self.capabilities(model), parameter_size=_parameter_size(count), parameter_count=count)

    async def capabilities(self, model: str) -> frozenset[str] | None:
        """What llama.cpp's /props shows beyond completion: tools (its chat template takes them) and
        vision. Other servers do not say. (llama.cpp's Ollama-shaped model list says "completion"
        even for an embedding server, so it is not read.)"""
        if "llamacpp" not in {entry.get("owned_by") for entry in await self._entries()}:
            return None
        try:
            props = await self._get("/props")
        except BackendError as error:
            if error.kind in (ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST):  # router mode wants ?model=; a proxy may hide it
                return None
            raise
        template = props.get("chat_template_caps") if isinstance(props, Mapping) else None
        modalities = props.get("modalities") if isinstance(props, Mapping) else None
        found = set()
        if isinstance(template, Mapping) and template.get("supports_tools"):
            found.add("tools")
        if isinstance(modalities, Mapping) and modalities.get("vision"):
            found.add("vision")
        return frozenset(found)

    def missing_advice(self, model: str) -> str:
        return f"set the tier's model to an id the server lists, or serve {model} there"

    async def queue_signals(self) -> QueueSignals | None:
        """The server's own load gauges (`telemetry.ServerTelemetry`: llama.cpp, vLLM, SGLang); None when it has none."""
        return await self._telemetry.read()


def _meta(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = entry.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def _names(entry: Mapping[str, Any]) -> list[str]:
    """The id a /v1/models entry answers to, and llama.cpp's other aliases of it."""
    aliases = entry.get("aliases")
    names = [entry.get("id"), *(aliases if isinstance(aliases, list) else [])]
    return list(dict.fromkeys(name for name in names if isinstance(name, str) and name))


def _status(entry: Mapping[str, Any]) -> str | None:
    status = entry.get("status")
    value = status.get("value") if isinstance(status, Mapping) else status
    return value if isinstance(value, str) else None


def _parameter_size(count: Any) -> str | None:
    """135000000 -> "135M", as Ollama writes sizes."""
    count = _count(count)
    if not count:
        return None
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g}{unit}"
    return str(count)


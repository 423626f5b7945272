"""The emulated host's HTTP surface: Ollama's routes, its OpenAI-compatible /v1 routes (gin-style 404/405) plus /sim/* control."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from zeta_console.ollama_api.errors import ApiError, client_gone
from zeta_console.sim.openai_compat import OpenAIRoutes, error_payload
from zeta_console.sim.parsing import parse_chat, parse_embed, parse_embeddings, parse_generate, parse_show
from zeta_console.sim.responses import JSON_TYPE, ConnectionCutter, InferenceEndpoint
from zeta_console.sim.service import OLLAMA_VERSION, HostService, JsonReply, Reply
from zeta_console.sim.wire import CHAT, GENERATE, encode


class OllamaJSON(Response):
    media_type = JSON_TYPE.decode()

    def render(self, content: Any) -> bytes:
        return encode(content)


def _gin_text(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    text = {404: "404 page not found", 405: "405 method not allowed"}[status]

    async def handler(request: Request, error: Exception) -> Response:
        return PlainTextResponse(text, status_code=status)

    return handler


async def _is_running(request: Request) -> Response:
    return PlainTextResponse("Ollama is running")


async def _version(request: Request) -> Response:
    return OllamaJSON({"version": OLLAMA_VERSION})


def ollama_routes(service: HostService, cut_connection: ConnectionCutter) -> list[BaseRoute]:
    async def tags(request: Request) -> Response:
        return OllamaJSON(service.tags())

    async def ps(request: Request) -> Response:
        return OllamaJSON(service.ps())

    async def show(request: Request) -> Response:
        try:
            return OllamaJSON(service.show(parse_show(service.spec, await request.body())))
        except ApiError as error:
            return OllamaJSON({"error": error.message}, status_code=error.status)

    async def chat(body: bytes) -> Reply:
        return await service.complete(CHAT, parse_chat(service.spec, body))

    async def generate(body: bytes) -> Reply:
        return await service.complete(GENERATE, parse_generate(service.spec, body))

    async def embed(body: bytes) -> Reply:
        return JsonReply(await service.embed(parse_embed(service.spec, body)))

    async def embeddings(body: bytes) -> Reply:
        return JsonReply(await service.legacy_embedding(parse_embeddings(service.spec, body)))

    def inference(path: str, make_reply: Callable[[bytes], Awaitable[Reply]]) -> Route:
        return Route(path, InferenceEndpoint(make_reply, cut_connection), methods=["POST"])

    openai = OpenAIRoutes(service)

    def openai_inference(path: str, make_reply: Callable[[bytes], Awaitable[Reply]]) -> Route:
        return Route(path, InferenceEndpoint(make_reply, cut_connection, error_payload), methods=["POST"])

    async def openai_models(request: Request) -> Response:
        return OllamaJSON(openai.models())

    async def openai_model(request: Request) -> Response:
        try:
            return OllamaJSON(openai.model(request.path_params["model"]))
        except ApiError as error:
            return OllamaJSON(error_payload(error.status, error.message), status_code=error.status)

    return [
        Route("/", _is_running, methods=["GET", "HEAD"]),
        Route("/api/version", _version, methods=["GET", "HEAD"]),
        Route("/api/tags", tags, methods=["GET", "HEAD"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/show", show, methods=["POST"]),
        inference("/api/chat", chat),
        inference("/api/generate", generate),
        inference("/api/embed", embed),
        inference("/api/embeddings", embeddings),
        openai_inference("/v1/chat/completions", openai.chat),
        openai_inference("/v1/completions", openai.completion),
        openai_inference("/v1/embeddings", openai.embeddings),
        Route("/v1/models", openai_models, methods=["GET"]),
        Route("/v1/models/{model:path}", openai_model, methods=["GET"]),
    ]


def create_app(service: HostService, cut_connection: ConnectionCutter, control: Sequence[BaseRoute] = ()) -> Starlette:
    return Starlette(
        routes=[*ollama_routes(service, cut_connection), *control],
        exception_handlers={404: _gin_text(404), 405: _gin_text(405), ClientDisconnect: client_gone},
    )

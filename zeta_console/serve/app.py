"""The Starlette app: Ollama's API and its OpenAI-compatible `/v1` routes in front of the router, plus /metrics.

Routes, error shapes and defaults follow ollama-api.md §1-2 and backends-api.md §3: unknown paths
and verbs get gin's plain-text 404/405, every other error the envelope of the route's dialect.
Ollama's model-management routes answer that models are managed on the hosts.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from zeta_console.ollama_api.errors import ApiError, OllamaJSONResponse, client_gone
from zeta_console.router.api import Chunk, EmbedResult, RoutedPieces, Router
from zeta_console.router.requests import ChatRequest, EmbedRequest, GenerateRequest
from zeta_console.serve import listing
from zeta_console.serve.access_log import AccessLog, Exchange
from zeta_console.serve.catalogue import Catalogue
from zeta_console.serve.envelope import OPENAI, envelope_for
from zeta_console.serve.metrics import ServeMetrics
from zeta_console.serve.openai_dialect import OpenAITranslator, model_object, models_list, the_model
from zeta_console.serve.openai_passthrough import OpenAIEmbedRelay, OpenAIHosts, OpenAIRawWire, OpenAIRelay
from zeta_console.serve.passthrough import OllamaPassThrough, OllamaRawWire
from zeta_console.serve.relay import Result, Wire, embed_response, legacy_embedding_reply, relayed_reply, stream_response
from zeta_console.serve.replies import Shape, header_safe
from zeta_console.serve.security import ORIGINS_ENV, BodyTooLarge, OriginPolicy, RequestGuard, origins_from_env
from zeta_console.serve.translate import RequestTranslator, Routable
from zeta_console.settings import Settings

# The Ollama release whose API shapes this endpoint serves (ollama-api.md).
OLLAMA_API_VERSION = "0.32.15"
USER_AGENT_PRODUCT_LIMIT = 40
SESSION_HEADER = "x-zeta-session"  # the caller's conversation: its turns go back to the endpoint caching it


def client_mark(request: Request) -> str:
    """How the console names this caller: `serve:<peer>`, with the User-Agent product if any."""
    return _client_mark(request.headers.get("user-agent", ""), request.client.host if request.client else "unknown")


@lru_cache(maxsize=1024)  # a client sends the same User-Agent from the same address on every request
def _client_mark(user_agent: str, peer: str) -> str:
    product = header_safe(user_agent.split("/", 1)[0].split(" ", 1)[0])[:USER_AGENT_PRODUCT_LIMIT]
    return f"serve:{product}@{peer}" if product else f"serve:{peer}"


class Frontend:
    """Request handlers of both dialects, bound to one router and one catalogue.

    Ollama-dialect inference routed to an Ollama host, and `/v1` inference routed to any host serving
    OpenAI's `/v1` (Ollama's own, llama.cpp, vLLM), is relayed as bytes (`passthrough.py`,
    `openai_passthrough.py`); routed to a host of another dialect it goes through the backends'
    neutral deltas and is written back in the client's dialect (the router chooses per endpoint)."""

    def __init__(self, router: Router, settings: Settings) -> None:
        self.router = router
        self.catalogue = Catalogue(settings, router.snapshot)
        self.translate = RequestTranslator(self.catalogue)
        self.openai = OpenAITranslator(self.translate)
        self.upstream_urls = {endpoint.id: endpoint.url for endpoint in router.snapshot().endpoints}
        self.hosts = ", ".join(f"{host.name} ({host.url})" for host in settings.hosts)
        self.started_at = time.time()
        self.passthrough = OllamaPassThrough(settings.timeouts)
        self.openai_hosts = OpenAIHosts(
            keys={host.url: os.environ.get(host.api_key_env, "") for host in settings.hosts if host.api_key_env},
            ollama=frozenset(host.url for host in settings.hosts if host.api == "ollama"),
        )

    async def aclose(self) -> None:
        await self.passthrough.aclose()

    async def liveness(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(self, request: Request) -> Response:
        return OllamaJSONResponse({"version": OLLAMA_API_VERSION})

    async def tags(self, request: Request) -> Response:
        return OllamaJSONResponse(listing.tags(self.catalogue, self.router.snapshot(), self.started_at))

    async def ps(self, request: Request) -> Response:
        return OllamaJSONResponse(listing.ps(self.catalogue, self.router.snapshot()))

    async def show(self, request: Request) -> Response:
        _, model = self.translate.show(await request.body())
        return OllamaJSONResponse(listing.show(self.catalogue, model, self.router.snapshot(), self.started_at))

    async def chat(self, request: Request) -> ASGIApp:
        routable = self.translate.chat(await request.body(), client_mark(request), request.headers.get(SESSION_HEADER))
        return self._ollama_inference(request, routable)

    async def generate(self, request: Request) -> ASGIApp:
        routable = self.translate.generate(await request.body(), client_mark(request), request.headers.get(SESSION_HEADER))
        return self._ollama_inference(request, routable)

    async def embed(self, request: Request) -> ASGIApp:
        routable = self.translate.embed(await request.body(), client_mark(request))
        relay = self.passthrough.send("/api/embed", routable.fields, routable.asked_model)
        return embed_response(self._embedding(request, routable, lambda: self.router.relay_embed(routable.request, relay)), relayed_reply)

    async def embeddings(self, request: Request) -> ASGIApp:
        """The legacy endpoint: its reply is not Ollama's /api/embed reply, so it is always rebuilt."""
        routable = self.translate.embeddings(await request.body(), client_mark(request))
        return embed_response(self._embedded(request, routable), legacy_embedding_reply)

    def _ollama_inference(self, request: Request, routable: Routable[ChatRequest] | Routable[GenerateRequest]) -> ASGIApp:
        routed_request = routable.request
        shape = Shape.CHAT if isinstance(routed_request, ChatRequest) else Shape.GENERATE
        relay = self.passthrough.stream(shape, routable.fields, routable.asked_model, whole=not routable.stream)
        return self._routed(request, routable, lambda: self.router.relay(routed_request, relay), OllamaRawWire(shape))

    async def not_managed(self, request: Request) -> Response:
        """Ollama's model-management routes: serve routes to models, the hosts hold them."""
        message = f"zeta-console serve does not manage models; pull, push, create, copy and delete them on the hosts: {self.hosts}"
        return OllamaJSONResponse({"error": message}, status_code=501)

    async def openai_chat(self, request: Request) -> ASGIApp:
        routable, include_usage = self.openai.chat(await request.body(), client_mark(request), request.headers.get(SESSION_HEADER))
        return self._openai_relayed(request, routable, include_usage, chat=True)

    async def openai_completion(self, request: Request) -> ASGIApp:
        routable, include_usage = self.openai.completion(await request.body(), client_mark(request), request.headers.get(SESSION_HEADER))
        return self._openai_relayed(request, routable, include_usage, chat=False)

    def _openai_relayed(
        self, request: Request, routable: Routable[ChatRequest] | Routable[GenerateRequest], include_usage: bool, chat: bool
    ) -> ASGIApp:
        """A `/v1` answer, streamed or whole: relayed as bytes from a host serving OpenAI's `/v1`, translated from any other."""
        routed_request = routable.request
        relay = OpenAIRelay(
            self.passthrough, self.openai_hosts, routable.fields, routable.asked_model,
            chat=chat, stream=routable.stream, include_usage=include_usage,
        )
        return self._routed(request, routable, lambda: self.router.relay(routed_request, relay), OpenAIRawWire())

    async def openai_embeddings(self, request: Request) -> ASGIApp:
        routable = self.openai.embedding(await request.body(), client_mark(request))
        relay = OpenAIEmbedRelay(self.passthrough, self.openai_hosts, routable.fields)
        relayed = self._embedding(request, routable, lambda: self.router.relay_embed(routable.request, relay))
        return embed_response(relayed, relayed_reply, OPENAI)

    async def openai_models(self, request: Request) -> Response:
        return OllamaJSONResponse(models_list(self.catalogue, int(self.started_at)))

    async def openai_model(self, request: Request) -> Response:
        model = the_model(self.catalogue, request.path_params["model"])
        return OllamaJSONResponse(model_object(model, int(self.started_at)))

    def _routed(
        self, request: Request, routable: Routable[Any], route: Callable[[], RoutedPieces[Chunk]], wire: Wire[Chunk]
    ) -> ASGIApp:
        exchange = Exchange.of(request.scope)
        exchange.asked_model = routable.asked_model

        def open_stream() -> RoutedPieces[Chunk]:
            routed = route()
            exchange.routed = routed
            return routed

        return stream_response(open_stream, wire, routable.stream, self.upstream_urls)

    def _embedded(self, request: Request, routable: Routable[EmbedRequest]) -> Callable[[], Awaitable[EmbedResult]]:
        return self._embedding(request, routable, lambda: self.router.embed(routable.request))

    def _embedding(
        self, request: Request, routable: Routable[EmbedRequest], send: Callable[[], Awaitable[Result]]
    ) -> Callable[[], Awaitable[Result]]:
        exchange = Exchange.of(request.scope)
        exchange.asked_model = routable.asked_model

        async def embed() -> Result:
            result = await send()
            exchange.embedded = result.decision
            return result

        return embed


def _error(request: Request, status: int, message: str) -> Response:
    body = envelope_for(request.url.path).error_body(status, message)
    return Response(body, status, media_type="application/json; charset=utf-8")


async def _gin_status_text(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        return PlainTextResponse("405 method not allowed", 405, headers=error.headers)
    if error.status_code == 404:
        return PlainTextResponse("404 page not found", 404)
    return _error(request, error.status_code, str(error.detail))


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return _error(request, error.status, error.message)


async def _body_too_large(request: Request, error: Exception) -> Response:
    return _error(request, 413, str(error))


async def _unexpected(request: Request, error: Exception) -> Response:
    return _error(request, 500, f"internal error: {type(error).__name__}")


def create_app(
    router: Router, settings: Settings, *, token: str | None, check_host: bool, access_log: Callable[[str], None] | None = None
) -> Starlette:
    """The endpoint's ASGI app. `check_host`: the server is bound to loopback (ollama-api.md §1.0);
    `access_log`: where each request's line goes (none by default: the console draws on the terminal)."""
    frontend = Frontend(router, settings)
    metrics = ServeMetrics(router.snapshot)
    origins = OriginPolicy((*settings.serve.allowed_origins, *origins_from_env(os.environ.get(ORIGINS_ENV, ""))))

    async def scrape(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # Starlette tries the routes in order: the inference routes, the busy ones, first.
    handlers: dict[str, tuple[Callable[[Request], Awaitable[object]], list[str]]] = {
        "/api/chat": (frontend.chat, ["POST"]),
        "/v1/chat/completions": (frontend.openai_chat, ["POST"]),
        "/api/generate": (frontend.generate, ["POST"]),
        "/v1/completions": (frontend.openai_completion, ["POST"]),
        "/api/embed": (frontend.embed, ["POST"]),
        "/v1/embeddings": (frontend.openai_embeddings, ["POST"]),
        "/api/embeddings": (frontend.embeddings, ["POST"]),
        "/": (frontend.liveness, ["GET", "HEAD"]),
        "/api/version": (frontend.version, ["GET", "HEAD"]),
        "/api/tags": (frontend.tags, ["GET", "HEAD"]),
        "/api/ps": (frontend.ps, ["GET"]),
        "/api/show": (frontend.show, ["POST"]),
        "/api/pull": (frontend.not_managed, ["POST"]),
        "/api/push": (frontend.not_managed, ["POST"]),
        "/api/create": (frontend.not_managed, ["POST"]),
        "/api/copy": (frontend.not_managed, ["POST"]),
        "/api/delete": (frontend.not_managed, ["DELETE"]),
        "/api/blobs/{digest}": (frontend.not_managed, ["HEAD", "POST"]),
        "/v1/models": (frontend.openai_models, ["GET"]),
        "/v1/models/{model:path}": (frontend.openai_model, ["GET"]),
        "/metrics": (scrape, ["GET"]),
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        unsubscribe = router.subscribe(metrics.on_event)
        try:
            yield
        finally:
            unsubscribe()
            await frontend.aclose()

    app = Starlette(
        routes=[Route(path, handler, methods=methods) for path, (handler, methods) in handlers.items()],
        middleware=[
            *([Middleware(AccessLog, write=access_log)] if access_log else []),
            Middleware(metrics.counting_responses, known_paths=frozenset(handlers)),
            Middleware(RequestGuard, token=token, check_host=check_host, origins=origins, max_body_bytes=settings.serve.max_body_bytes),
        ],
        exception_handlers={
            HTTPException: _gin_status_text,
            ApiError: _api_error,
            BodyTooLarge: _body_too_large,
            ClientDisconnect: client_gone,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app

"""Who may talk to the endpoint: bind rules, Host and Origin checks, bearer token, body limit.

The rules follow Ollama's own (ollama-api.md §1.0; its Origin allow-list and CORS answers are
those of `envconfig.AllowedOrigins` and gin-contrib/cors) plus what a proxy reachable from other
machines needs: a token for any non-loopback bind, and a cap on request bodies.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

import psutil
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zeta_console.errors import UserError
from zeta_console.serve.envelope import OLLAMA, Envelope, envelope_for

LOCAL_NAME_SUFFIXES = (".localhost", ".local", ".internal")
# Go's netip.Addr.IsPrivate, which Ollama uses: narrower than Python's is_private.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# Web pages Ollama lets in: local hosts on any port (plus [::1], as local as 127.0.0.1), and desktop-app schemes.
LOCAL_ORIGIN_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")
APP_ORIGIN_SCHEMES = ("app", "file", "tauri", "vscode-webview", "vscode-file")
ORIGINS_ENV = "OLLAMA_ORIGINS"
# The request headers pages may send: Ollama's list, with the headers OpenAI's JavaScript SDK adds.
ALLOWED_REQUEST_HEADERS = (
    "Authorization", "Content-Type", "User-Agent", "Accept", "X-Requested-With", "OpenAI-Beta", "x-stainless-arch",
    "x-stainless-async", "x-stainless-custom-poll-interval", "x-stainless-helper-method", "x-stainless-lang", "x-stainless-os",
    "x-stainless-package-version", "x-stainless-poll-helper", "x-stainless-retry-count", "x-stainless-runtime",
    "x-stainless-runtime-version", "x-stainless-timeout",
)  # fmt: skip
# gin-contrib/cors's preflight answer, as Ollama configures it.
PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET,POST,HEAD,OPTIONS"),
    (b"access-control-allow-headers", ",".join(ALLOWED_REQUEST_HEADERS).encode()),
    (b"access-control-max-age", b"43200"),
    (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
]


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"


def parse_listen(text: str) -> ListenAddress:
    """`host:port`, `[v6]:port` or `:port` (loopback). Port 0 picks a free port."""
    raw = text.strip()
    if raw.startswith("["):
        host, sep, port_text = raw[1:].partition("]:")
    else:
        host, sep, port_text = raw.rpartition(":")
        if ":" in host:
            raise UserError(f"--listen {text!r}: write an IPv6 address in brackets, e.g. [::1]:11435", exit_code=2)
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise UserError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:11435", exit_code=2)
    return ListenAddress(host=host or "127.0.0.1", port=int(port_text))


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_safe_bind(address: ListenAddress, token: str | None) -> None:
    if not address.is_loopback and not token:
        raise UserError(
            f"refusing to listen on {address.host}:{address.port} without a token: "
            "pass --token T (clients then send 'Authorization: Bearer T') or bind 127.0.0.1",
            exit_code=2,
        )


@cache
def _this_machines_addresses() -> frozenset[str]:
    return frozenset(
        str(ipaddress.ip_address(entry.address.split("%")[0]))
        for entries in psutil.net_if_addrs().values()
        for entry in entries
        if entry.family in (socket.AF_INET, socket.AF_INET6)
    )


@lru_cache(maxsize=256)  # a client sends the same Host each time: parsed (and the host name asked) once per value
def host_header_allowed(value: str) -> bool:
    """Ollama's allowedHostsMiddleware: a loopback-bound server only answers to local names."""
    host = value.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in ("", "localhost", socket.gethostname().lower()) or host.endswith(LOCAL_NAME_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (
        address.is_loopback
        or address.is_unspecified
        or any(address in network for network in PRIVATE_NETWORKS)
        or str(address) in _this_machines_addresses()
    )


def default_allowed_origins() -> tuple[str, ...]:
    web = tuple(f"{scheme}://{host}{port}" for host in LOCAL_ORIGIN_HOSTS for scheme in ("http", "https") for port in ("", ":*"))
    return web + tuple(f"{scheme}://*" for scheme in APP_ORIGIN_SCHEMES)


def origins_from_env(value: str) -> tuple[str, ...]:
    """OLLAMA_ORIGINS: comma-separated, quotes and spaces around the whole value ignored (as Ollama)."""
    return tuple(part.strip() for part in value.strip("\"' ").split(",") if part.strip())


class OriginPolicy:
    """Which web origins may call the endpoint: `*` in a pattern matches any run of characters,
    `*` alone lets every origin in. A page calling its own origin (the Host it asked) is no
    cross-origin request and always passes."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        patterns = [pattern.strip().lower() for pattern in (*extra, *default_allowed_origins())]
        self.allow_all = "*" in patterns
        self._pattern = re.compile("|".join(".*".join(map(re.escape, pattern.split("*"))) for pattern in patterns))

    def allows(self, origin: str, host: str) -> bool:
        origin = origin.strip().lower()
        same_origin = origin in (f"http://{host.lower()}", f"https://{host.lower()}")
        return self.allow_all or same_origin or self._pattern.fullmatch(origin) is not None

    def allow_origin_header(self, origin: str) -> tuple[bytes, bytes]:
        return (b"access-control-allow-origin", b"*" if self.allow_all else origin.encode("latin-1"))


def bearer_token_matches(authorization: str, token: str) -> bool:
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")


def _header_values(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    wanted = (b"host", b"origin", b"authorization", b"content-length")
    return {name: value.decode("latin-1") for name, value in headers if name in wanted}


async def send_plain_status(send: Send, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def send_json_error(
    send: Send, status: int, message: str, extra_headers: list[tuple[bytes, bytes]] | None = None, envelope: Envelope = OLLAMA
) -> None:
    headers = [(b"content-type", b"application/json; charset=utf-8"), *(extra_headers or [])]
    await send_plain_status(send, status, envelope.error_body(status, message), headers)


class RequestGuard:
    """Pure ASGI middleware (cheap on the hot path) applying the checks before any routing."""

    def __init__(self, app: ASGIApp, *, token: str | None, check_host: bool, origins: OriginPolicy, max_body_bytes: int) -> None:
        self.app = app
        self.token = token or None
        self.check_host = check_host
        self.origins = origins
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _header_values(scope["headers"])
        if self.check_host and not host_header_allowed(headers.get(b"host", "")):
            await send_plain_status(send, 403)
            return
        origin = headers.get(b"origin")
        if origin is not None:
            if not self.origins.allows(origin, headers.get(b"host", "")):
                await send_plain_status(send, 403)
                return
            if scope["method"] == "OPTIONS":  # a preflight: browsers send no credentials with it
                await send_plain_status(send, 204, headers=[self.origins.allow_origin_header(origin), *PREFLIGHT_HEADERS])
                return
            send = self._with_allow_origin(send, origin)
        if self.token and not bearer_token_matches(headers.get(b"authorization", ""), self.token):
            await send_json_error(send, 401, "unauthorized", [(b"www-authenticate", b"Bearer")], envelope_for(scope["path"]))
            return
        declared = headers.get(b"content-length", "0").strip()
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await send_json_error(send, 413, str(BodyTooLarge(self.max_body_bytes)), envelope=envelope_for(scope["path"]))
            return
        await self.app(scope, self._counting(receive), send)

    def _with_allow_origin(self, send: Send, origin: str) -> Send:
        """An allowed cross-origin caller's responses say so, or the browser hides them from the page."""
        allow_origin = self.origins.allow_origin_header(origin)

        async def send_allowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), allow_origin, (b"vary", b"Origin")]}
            await send(message)

        return send_allowed

    def _counting(self, receive: Receive) -> Receive:
        """Chunked bodies carry no Content-Length: count what actually arrives."""
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise BodyTooLarge(self.max_body_bytes)
            return message

        return counted_receive

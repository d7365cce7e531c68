"""ASGI middleware that guards the connection itself: which Host names are served, when
a connection must close, and what a request cut short by a shutdown gets.

Pure ASGI (no BaseHTTPMiddleware): they see WebSockets too and add no task per request.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..settings import normalize_host
from .stream import CLOSE_POLICY_VIOLATION


def host_name(header: str) -> str:
    """A Host header's name: "Example.org:8000" -> "example.org", "[::1]:8000" -> "::1"."""
    header = header.strip()
    if header.startswith("["):
        return normalize_host(header.partition("]")[0])
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return normalize_host(header)


class HostCheck:
    """Answer only for the allowed Host names (HTTP and WebSocket). A page on an attacker's
    domain that re-resolves to this server (DNS rebinding) sends its own domain as Host,
    and redirects never point at a name the server does not own."""

    def __init__(self, app: ASGIApp, hosts: list[str]):
        self.app = app
        self.any = "*" in hosts
        self.names = {h for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))  # "*.example.org"

    def allowed(self, header: str) -> bool:
        name = host_name(header)
        return bool(name) and (name in self.names or any(name.endswith(s) for s in self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or self.any
                or self.allowed(Headers(scope=scope).get("host", ""))):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocket(scope, receive, send).close(CLOSE_POLICY_VIOLATION)  # HTTP 403
        else:
            await JSONResponse({"detail": "this server does not answer for the host name in the "
                                          "Host header (ALLOWED_HOSTS)"}, 400)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    return "transfer-encoding" in headers or headers.get("content-length", "0").strip() != "0"


class CloseUnreadBody:
    """An answer given before the request body was read to its end (a 413 on its
    Content-Length, a 408, any early error) says `Connection: close`: otherwise uvicorn
    reads and drops the rest of the body, maybe hundreds of MB, to reuse the connection."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        done = False

        async def receive_(*args) -> Message:
            nonlocal done
            message = await receive(*args)
            done = done or message["type"] == "http.disconnect" or not message.get("more_body", False)
            return message

        async def send_(message: Message) -> None:
            if message["type"] == "http.response.start" and not done:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive_, send_)


class ShutdownGuard:
    """On SIGTERM uvicorn waits SHUTDOWN_GRACE_SECONDS for running requests, then cancels
    them and would answer a text 500 and log a traceback. A request cancelled before its
    answer started gets a JSON 503 instead (and the client may retry elsewhere)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_)
        except asyncio.CancelledError:
            if started:
                raise
            asyncio.current_task().uncancel()  # handled: the answer below still goes out
            await JSONResponse({"detail": "the server is shutting down; try again in a moment"}, 503,
                               headers={"Connection": "close", "Retry-After": "5"})(scope, receive, send)

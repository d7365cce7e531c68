"""ASGI middleware that guards the connection itself: when a connection must close.

Pure ASGI (no BaseHTTPMiddleware): they see WebSockets too and add no task per request.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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

"""uvicorn's HTTP protocol (httptools) with a deadline for request headers, and a bounded
lingering close after an early answer.

Headers: uvicorn times out idle keep-alive connections, but not a client that opens a
connection and sends its request line and headers a byte at a time: each such client
would hold a connection for ever. Here a request's headers (from the connection's
opening, or from the first byte of a later request on it) must be complete within
HEADER_TIMEOUT_SECONDS, else the client gets a JSON 408 and the connection is closed. A
connection on which no request has begun is closed without an answer, as an idle one.
(The body has its own limit, UPLOAD_TIMEOUT_SECONDS, enforced where it is read:
uploads.read_upload.)

Early answers: a response sent before the request body ended (a 413 on Content-Length,
a 408) says `Connection: close` (middleware.CloseUnreadBody), so the rest of the body is
not read as uvicorn otherwise would. But closing a socket with unread data resets the
connection, and a client still sending (nginx passing a buffered body on, for one) may
lose the answer to the reset: 502 instead of envaudio's 413. So the connection is
half-closed (the answer, then FIN) and what still arrives is dropped unparsed: an upload's
worth of bytes at most, after which reading stops, and the socket is closed LINGER_SECONDS
after the answer.

`envaudio serve` passes this class to uvicorn by its import path.
"""

from __future__ import annotations

import json
from functools import lru_cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings
from .uploads import MULTIPART_OVERHEAD

PATH = "envaudio.server.protocol:HttpProtocol"
LINGER_SECONDS = 2.0


@lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


class _Transport:
    """The connection's transport, whose close() goes through the protocol."""

    def __init__(self, transport, protocol: "HttpProtocol"):
        self.raw, self._protocol = transport, protocol

    def __getattr__(self, name):
        return getattr(self.raw, name)

    def close(self) -> None:
        self._protocol.close_gracefully()


class HttpProtocol(HttpToolsProtocol):
    _header_timer = None
    _request_begun = False
    _linger_bytes: int | None = None  # set while lingering: bytes still to drop

    def connection_made(self, transport) -> None:
        super().connection_made(_Transport(transport, self))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._linger_bytes is None:
            super().data_received(data)
            return
        self._linger_bytes -= len(data)
        if self._linger_bytes < 0:
            # Stop reading rather than close: TCP flow control holds the client back, and a
            # close now would reset the connection with the answer perhaps still unread on
            # the other side (a proxy passing on a body above the limit: 502 instead of 413).
            # The LINGER_SECONDS timer closes it.
            self.transport.raw.pause_reading()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._request_begun = False
        super().on_headers_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def close_gracefully(self) -> None:
        raw = self.transport.raw
        if self._linger_bytes is not None or raw.is_closing():
            return
        if self.cycle is None or not self.cycle.more_body or not raw.can_write_eof():
            raw.close()
            return
        raw.write_eof()  # the answer is out; the client reads it, then sees the end
        self._linger_bytes = int(_settings().max_upload_mb * 1024 * 1024) + MULTIPART_OVERHEAD
        raw.resume_reading()  # uvicorn may have paused it (a full body buffer)
        self.loop.call_later(LINGER_SECONDS, raw.close)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(_settings().header_timeout_seconds, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if not self._request_begun:
            self.transport.close()
            return
        body = json.dumps({"detail": f"the request headers were not received within "
                                     f"{_settings().header_timeout_seconds:g} s (HEADER_TIMEOUT_SECONDS)"}).encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()

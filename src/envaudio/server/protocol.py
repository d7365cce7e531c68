"""uvicorn's HTTP protocol (httptools) with a deadline for request headers.

uvicorn times out idle keep-alive connections, but not a client that opens a connection
and sends its request line and headers a byte at a time: each such client would hold a
connection for ever. Here a request's headers (from the connection's opening, or from
the first byte of a later request on it) must be complete within HEADER_TIMEOUT_SECONDS,
else the client gets a JSON 408 and the connection is closed. (The body has its own
limit, UPLOAD_TIMEOUT_SECONDS, enforced where it is read: uploads.read_upload.) A
connection on which no request has begun is closed without an answer, as an idle one.

`envaudio serve` passes this class to uvicorn by its import path.
"""

from __future__ import annotations

import json
from functools import lru_cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings

PATH = "envaudio.server.protocol:HeaderTimeoutProtocol"


@lru_cache(maxsize=1)
def _header_timeout() -> float:
    return Settings.from_env().header_timeout_seconds


class HeaderTimeoutProtocol(HttpToolsProtocol):
    _header_timer = None
    _request_begun = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

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

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(_header_timeout(), self._expire)

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
                                     f"{_header_timeout():g} s (HEADER_TIMEOUT_SECONDS)"}).encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
        self.transport.close()

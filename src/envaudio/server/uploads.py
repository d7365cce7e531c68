"""Reading an uploaded file from a multipart/form-data body, with a size limit and a
time limit enforced while reading.

FastAPI's `UploadFile` parameters parse the whole body (spooling it to a temp file)
before the endpoint runs, so a size check there comes too late. Here the body is
streamed chunk by chunk through python-multipart's push parser: a Content-Length above
the limit is refused before anything is read, and the bytes are counted as they arrive,
so an oversized upload (or one sent without Content-Length) is cut off at the limit; a
body that takes longer than UPLOAD_TIMEOUT_SECONDS to arrive is cut off too (408). Such
early answers close the connection (middleware.CloseUnreadBody), so the rest of the body
is not read either.

The file part is kept in memory (it is at most MAX_UPLOAD_MB), and decoded from memory
(ffmpeg reads it on a pipe). The disk is used in one case only: an MP4/M4A/MOV upload,
which ffmpeg must be able to seek in, is written to an unnamed temporary file (no name
in any directory; the kernel frees it when the decode ends, on any exit, kill -9 included).
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from fastapi import HTTPException, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

# Room for the multipart framing and small extra fields on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024

# What /docs shows for the request body of the upload endpoints.
UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary",
                                            "description": "the audio file (WAV, FLAC, OGG, MP3, M4A, ...)"}},
                }
            }
        },
    }
}


@dataclass
class Upload:
    data: bytes
    filename: str | None
    content_type: str | None


def too_large(limit_bytes: int) -> HTTPException:
    mb = limit_bytes / (1024 * 1024)
    return HTTPException(413, f"the upload is larger than the limit of {mb:g} MB (MAX_UPLOAD_MB)")


class _TooLarge(Exception):
    pass


class _FieldCollector:
    """python-multipart callbacks that keep the bytes of one field (the first one named
    `field_name`) and drop everything else."""

    def __init__(self, field_name: str, limit_bytes: int):
        self.field_name, self.limit = field_name, limit_bytes
        self.data = bytearray()
        self.found = False      # the field's headers were seen
        self.complete = False   # ... and its closing boundary
        self.ended = False      # the whole body's closing boundary
        self.filename: str | None = None
        self.content_type: str | None = None
        self._in_target = False
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hvalue = b""

    def callbacks(self) -> dict:
        return {name: getattr(self, name) for name in (
            "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value",
            "on_header_end", "on_headers_finished", "on_end")}

    def on_part_begin(self) -> None:
        self._headers, self._in_target = {}, False

    def on_header_field(self, buf: bytes, start: int, end: int) -> None:
        self._hname += buf[start:end]

    def on_header_value(self, buf: bytes, start: int, end: int) -> None:
        self._hvalue += buf[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname = self._hvalue = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name")
        if self.found or name is None or name.decode("utf-8", "replace") != self.field_name:
            return
        self.found = self._in_target = True
        fn = opts.get(b"filename")
        self.filename = fn.decode("utf-8", "replace") if fn is not None else None
        ctype = self._headers.get(b"content-type")
        self.content_type = ctype.decode("latin-1") if ctype else None

    def on_part_data(self, buf: bytes, start: int, end: int) -> None:
        if self._in_target:
            if len(self.data) + (end - start) > self.limit:
                raise _TooLarge()
            self.data += buf[start:end]

    def on_part_end(self) -> None:
        if self._in_target:
            self.complete, self._in_target = True, False

    def on_end(self) -> None:
        self.ended = True


async def read_upload(request: Request, limit_bytes: int, timeout: float,
                      field_name: str = "file") -> Upload:
    """The bytes of the multipart field `field_name`, or an HTTPException with a
    readable detail: 413 (too large), 415 (not multipart), 400 (malformed or cut-off
    body), 422 (no such field), 408 (not received within `timeout` seconds)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise HTTPException(415, f"send the audio as multipart/form-data with a '{field_name}' field "
                                 f"(got Content-Type {ctype.decode('latin-1') or 'none'})")
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "malformed multipart/form-data: the Content-Type has no boundary")

    body_limit = limit_bytes + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_n = int(declared)
        except ValueError:
            raise HTTPException(400, "invalid Content-Length header") from None
        if declared_n > body_limit:  # refused before reading a byte of it
            raise too_large(limit_bytes)

    form = _FieldCollector(field_name, limit_bytes)
    parser = MultipartParser(boundary, form.callbacks())
    received = 0
    try:
        with anyio.fail_after(timeout):  # a client trickling bytes must not hold its slot for ever
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_limit:
                    raise _TooLarge()
                if chunk:
                    parser.write(chunk)
                if form.ended:
                    break  # anything after the closing boundary is ignored
        parser.finalize()
    except TimeoutError:
        raise HTTPException(408, f"the upload was not received within {timeout:g} s "
                                 "(UPLOAD_TIMEOUT_SECONDS)") from None
    except _TooLarge:
        raise too_large(limit_bytes) from None
    except FormParserError as e:
        raise HTTPException(400, f"malformed multipart/form-data body: {e}") from None
    except ClientDisconnect:
        raise HTTPException(400, "the client disconnected during the upload") from None

    if not form.found:
        if not form.ended:
            raise HTTPException(400, "malformed multipart/form-data body (empty or cut off)")
        raise HTTPException(422, f"no '{field_name}' field in the form: send the audio as "
                                 f"multipart/form-data field '{field_name}'")
    if not form.complete:
        raise HTTPException(400, "the upload was cut off: the multipart body is incomplete")
    return Upload(data=bytes(form.data), filename=form.filename, content_type=form.content_type)

"""Reading an uploaded file from a multipart/form-data body, with a size limit enforced
while reading.

FastAPI's `UploadFile` parameters parse the whole body (spooling it to a temp file)
before the endpoint runs, so a size check there comes too late. Here the body is
streamed chunk by chunk through python-multipart's push parser: a Content-Length above
the limit is refused before anything is read, and the bytes are counted as they arrive,
so an oversized upload (or one sent without Content-Length) is cut off at the limit.
The file part is kept in memory (it is at most MAX_UPLOAD_MB); nothing touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    is_target: bool = False


def too_large(limit_bytes: int) -> HTTPException:
    mb = limit_bytes / (1024 * 1024)
    return HTTPException(413, f"the upload is larger than the limit of {mb:g} MB (MAX_UPLOAD_MB)")


async def read_upload(request: Request, limit_bytes: int, field_name: str = "file") -> Upload:
    """The bytes of the multipart field `field_name`, or an HTTPException with a
    readable detail: 413 (too large), 415 (not multipart), 400 (malformed or cut-off
    body), 422 (no such field)."""
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
        if declared_n > body_limit:
            raise too_large(limit_bytes)

    data = bytearray()
    state = {"part": None, "found": None, "done": False, "ended": False, "hname": b"", "hvalue": b""}

    def on_part_begin() -> None:
        state["part"] = _Part()

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        state["hname"] += buf[start:end]

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        state["hvalue"] += buf[start:end]

    def on_header_end() -> None:
        state["part"].headers[state["hname"].lower()] = state["hvalue"]
        state["hname"], state["hvalue"] = b"", b""

    def on_headers_finished() -> None:
        part: _Part = state["part"]
        _, opts = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = opts.get(b"name")
        part.name = name.decode("utf-8", "replace") if name is not None else None
        fn = opts.get(b"filename")
        part.filename = fn.decode("utf-8", "replace") if fn is not None else None
        part.is_target = part.name == field_name and state["found"] is None
        if part.is_target:
            state["found"] = part

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        if state["part"].is_target:
            if len(data) + (end - start) > limit_bytes:
                raise _TooLarge()
            data.extend(buf[start:end])

    def on_part_end() -> None:
        if state["part"].is_target:
            state["done"] = True

    def on_end() -> None:
        state["ended"] = True

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_end": on_end,
    })
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise _TooLarge()
            if chunk:
                parser.write(chunk)
            if state["ended"]:
                break  # anything after the closing boundary is ignored
        parser.finalize()
    except _TooLarge:
        raise too_large(limit_bytes) from None
    except FormParserError as e:
        raise HTTPException(400, f"malformed multipart/form-data body: {e}") from None
    except ClientDisconnect:
        raise HTTPException(400, "the client disconnected during the upload") from None

    part = state["found"]
    if part is None:
        if received == 0 or not state["ended"]:
            raise HTTPException(400, "malformed multipart/form-data body (empty or cut off)")
        raise HTTPException(422, f"no '{field_name}' field in the form: send the audio as "
                                 f"multipart/form-data field '{field_name}'")
    if not state["done"]:
        raise HTTPException(400, "the upload was cut off: the multipart body is incomplete")
    ctype = part.headers.get(b"content-type")
    return Upload(data=bytes(data), filename=part.filename,
                  content_type=ctype.decode("latin-1") if ctype else None)


class _TooLarge(Exception):
    pass

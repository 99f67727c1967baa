r"""Request bodies to temporary files, bounded in size, multipart or raw.

A body is streamed to disk as it arrives (memory stays flat whatever the upload size) and
cut off with 413 once it passes the limit, whether or not the client sent Content-Length.
A ``multipart/form-data`` body is parsed while streaming with ``python-multipart`` (the
parser Starlette uses); its first file part (or, failing that, a part named ``file``) becomes
the upload, and small text fields (``kind``) are returned beside it.

>>> import asyncio
>>> async def body():
...     yield b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\npcap\r\n'
...     yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pcap"\r\n\r\n'
...     yield b'hello\r\n--b--\r\n'
>>> up = asyncio.run(receive(body(), "multipart/form-data; boundary=b", None))
>>> up.path.read_bytes(), up.filename, up.fields
(b'hello', 'a.pcap', {'kind': 'pcap'})
>>> up.remove()
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

#: Default largest body accepted (bytes).
MAX_BODY = 256 * 2**20
#: Largest text field kept from a multipart body.
MAX_FIELD = 1024


class UploadError(Exception):
    """A body that cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    path: Path
    """Temporary file holding the (file part of the) body; the caller deletes it."""
    size: int
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False
    """For multipart: whether a file part was found."""

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _boundary(content_type: str) -> bytes:
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(content_type)
    b = params.get(b"boundary")
    if not b or len(b) > 200:
        raise UploadError(400, "multipart body without a valid boundary")
    return b


async def receive(stream: AsyncIterator[bytes], content_type: str, content_length: str | None,
                  limit: int = MAX_BODY) -> Upload:
    """Stream a request body into a temporary file; :class:`UploadError` if unacceptable."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise UploadError(400, "Content-Length is not a number") from None
        if declared > limit:
            raise UploadError(413, f"body of {declared} bytes is over the limit of {limit}")
    multipart = content_type.lower().startswith("multipart/form-data")
    fd, name = tempfile.mkstemp(prefix="surgescope-upload-")
    path = Path(name)
    up = Upload(path, 0)
    try:
        with os.fdopen(fd, "wb") as out:
            parser = _multipart_parser(_boundary(content_type), out, up) if multipart else None
            seen = 0
            async for chunk in stream:
                seen += len(chunk)
                if seen > limit:
                    raise UploadError(413, f"body over the limit of {limit} bytes")
                if parser is None:
                    out.write(chunk)
                else:
                    parser.write(chunk)
            if parser is not None:
                parser.finalize()
                if not up.has_file:
                    raise UploadError(400, "multipart body without a file part")
            up.size = out.tell()
        return up
    except UploadError:
        path.unlink(missing_ok=True)
        raise
    except ImportError:
        path.unlink(missing_ok=True)
        raise UploadError(415, "multipart bodies need the python-multipart package here: "
                               "send the file as the raw body instead") from None
    except Exception as e:  # a malformed multipart body: python-multipart raises its own errors
        path.unlink(missing_ok=True)
        raise UploadError(400, f"malformed multipart body ({type(e).__name__})") from None


def _multipart_parser(boundary: bytes, out, up: Upload):
    """A python-multipart parser writing the first file part to ``out``, fields to ``up``."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    part: dict = {}

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, field=b"", value=bytearray(), target=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = part["field"].lower()
        part["headers"][key] = part["headers"].get(key, b"") + data[start:end]

    def on_header_end() -> None:
        part["field"] = b""

    def on_headers_finished() -> None:
        _, opts = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        part["name"] = name
        if not up.has_file and (filename is not None or name == "file"):
            part["target"] = "file"
            up.has_file = True
            up.filename = filename.decode("utf-8", "replace")[:200] if filename else None
        else:
            part["target"] = "field"

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part["target"] == "file":
            out.write(data[start:end])
        elif len(part["value"]) < MAX_FIELD:
            part["value"] += data[start:end][: MAX_FIELD - len(part["value"])]

    def on_part_end() -> None:
        if part.get("target") == "field" and part.get("name"):
            up.fields[part["name"][:100]] = part["value"].decode("utf-8", "replace")

    return MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })

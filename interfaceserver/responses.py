"""Bytes of HTTP/1.x responses: the status line and headers, chunked framing, and the server's own error pages.

Pure functions. The head is written the way Twisted wrote it for Daphne 1.4.2 (checked byte for
byte in tests/compat): Twisted's reason phrases; ``Connection`` first; then the application's headers
through Twisted's ``Headers``, so names get its canonical capitalisation and repeats of a name are
grouped under its first occurrence; then the framing header (``Content-Length`` when the whole body
is known, ``Transfer-Encoding: chunked`` on HTTP/1.1 otherwise, or close-delimited on HTTP/1.0) and
``Server: Daphne`` and ``Date`` unless the application set them.
"""

from __future__ import annotations

import functools
import time
from email.utils import formatdate

from twisted.web.http import RESPONSES
from twisted.web.http_headers import Headers

from .errorpage import error_html

__all__ = ["chunk", "error_body", "error_page", "reason_phrase", "response_head", "LAST_CHUNK", "NO_BODY_STATUSES"]

LAST_CHUNK = b"0\r\n\r\n"
#: Statuses that never carry a body (RFC 9110 §6.4.1).
NO_BODY_STATUSES = frozenset({204, 304}) | frozenset(range(100, 200))
SERVER_NAME = b"Daphne"


def reason_phrase(status: int) -> bytes:
    """Twisted's reason phrase for ``status`` (what Daphne sent; ``status_text`` was ignored)."""
    return RESPONSES.get(status, b"Unknown Status")


@functools.lru_cache(maxsize=1024)
def _canonical(name: bytes) -> bytes:
    """Twisted's canonical capitalisation of a header name (``content-md5`` -> ``Content-MD5``), cached."""
    table = Headers()
    table.addRawHeader(name, b"")
    return next(iter(table.getAllRawHeaders()))[0]


def _date() -> bytes:
    """The ``Date`` header value, formatted once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True).encode("ascii")]
    stamp: bytes = _date_cache[1]
    return stamp


_date_cache: list = [0, b""]


def response_head(
    http_version: str,
    status: int,
    headers: list[tuple[bytes, bytes]],
    *,
    body_length: int | None,
    keep_alive: bool,
    head_request: bool = False,
) -> tuple[bytes, bool, bool]:
    """Build a response head: returns ``(bytes, chunked, keep_alive)``.

    ``body_length`` is the complete body size when the whole response is known, else None. The
    application's own Content-Length is honoured; without one a streamed HTTP/1.1 response is
    chunked and a streamed HTTP/1.0 response ends the connection.
    """
    status_line = (
        b"HTTP/" + http_version.encode("ascii") + b" " + str(status).encode("ascii") + b" " + reason_phrase(status)
    )
    # As Twisted's Headers did for Daphne: canonical names, repeats grouped under the first occurrence.
    table: dict[bytes, tuple[bytes, list[bytes]]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in (b"transfer-encoding", b"connection", b"keep-alive"):  # framing is ours to decide
            continue
        entry = table.get(lower)
        if entry is None:
            table[lower] = (_canonical(name), [value])
        else:
            entry[1].append(value)
    chunked = False
    if status in NO_BODY_STATUSES or b"content-length" in table:
        pass
    elif body_length is not None:
        table[b"content-length"] = (b"Content-Length", [str(body_length).encode("ascii")])
    elif http_version == "1.1" and not head_request:
        table[b"transfer-encoding"] = (b"Transfer-Encoding", [b"chunked"])
        chunked = True
    elif not head_request:
        keep_alive = False
    if b"server" not in table:
        table[b"server"] = (b"Server", [SERVER_NAME])
    if b"date" not in table:
        table[b"date"] = (b"Date", [_date()])
    lines = [status_line]
    if http_version == "1.0" and keep_alive:
        lines.append(b"Connection: keep-alive")
    elif http_version == "1.1" and not keep_alive:
        lines.append(b"Connection: close")
    lines.extend(name + b": " + value for name, values in table.values() for value in values)
    return b"\r\n".join(lines) + b"\r\n\r\n", chunked, keep_alive


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (empty data gives nothing: an empty chunk would end the body)."""
    if not data:
        return b""
    return b"%x\r\n" % len(data) + data + b"\r\n"


def error_body(status: int, detail: str) -> bytes:
    """The HTML of an error response (HTTP/1 and HTTP/2 alike): title from the status, ``detail`` escaped."""
    return error_html(f"{status} {reason_phrase(status).decode('ascii')}", detail, footer="Daphne")


def error_page(
    status: int,
    detail: str,
    *,
    http_version: str = "1.1",
    keep_alive: bool = False,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """A complete small HTML error response, e.g. the 503 "Request queue full." page."""
    body = error_body(status, detail)
    headers = [(b"Content-Type", b"text/html; charset=utf-8"), *(extra_headers or [])]
    head, _, _ = response_head(http_version, status, headers, body_length=len(body), keep_alive=keep_alive)
    return head + body

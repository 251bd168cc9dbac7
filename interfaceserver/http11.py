"""An incremental HTTP/1.0 and 1.1 request parser with no I/O (h11 style).

Theory of operation
-------------------
Bytes go in with :meth:`RequestParser.feed`; events come out: one :class:`RequestHead`, then body
``bytes`` pieces, then :data:`END`. After ``END`` the parser stops until :meth:`RequestParser.next_request`
is called, so pipelined requests are answered one at a time (the bytes that follow stay buffered).
Anything we refuse raises :class:`~interfaceserver.errors.ProtocolError` carrying the status to
answer with (400 malformed, 414/431 too large, 501 unknown transfer coding, 505 bad version); after
an error the connection must be closed, because the framing can no longer be trusted.

The body is framed by ``Transfer-Encoding: chunked`` or ``Content-Length``; a request that has both,
or several different Content-Lengths, is refused (request smuggling). Limits on the body size are
the caller's business (it knows ``content_length`` up front, and counts chunked bodies).
"""

from __future__ import annotations

import re
from typing import Final, Union

from .errors import ProtocolError

__all__ = ["END", "Event", "RequestHead", "RequestParser"]

END: Final = None
#: What :meth:`RequestParser.feed` returns: a head, a piece of body, or END.
Event = Union["RequestHead", bytes, None]

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET = re.compile(rb"[\x21-\xff]+\Z")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_MAX_CHUNK_LINE = 1024

# Parser states.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _DONE = range(7)


class RequestHead:
    """A parsed request line and header block. Header names are lowercased; order and duplicates kept."""

    __slots__ = ("method", "target", "http_version", "headers", "keep_alive", "content_length", "chunked",
                 "expect_continue", "upgrade")

    def __init__(self, method: bytes, target: bytes, http_version: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        connection = {t.strip().lower() for name, value in headers if name == b"connection" for t in value.split(b",")}
        if http_version == "1.1":
            self.keep_alive = b"close" not in connection
        else:
            self.keep_alive = b"keep-alive" in connection
        upgrade = b", ".join(value for name, value in headers if name == b"upgrade").lower()
        self.upgrade = b"upgrade" in connection and b"websocket" in upgrade
        self.expect_continue = http_version == "1.1" and any(
            name == b"expect" and value.lower() == b"100-continue" for name, value in headers
        )
        self.content_length, self.chunked = _framing(headers, http_version)

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lowercase), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        return f"<RequestHead {self.method!r} {self.target!r} HTTP/{self.http_version}>"


def _framing(headers: list[tuple[bytes, bytes]], version: str) -> tuple[int, bool]:
    lengths = {value.strip() for name, value in headers if name == b"content-length"}
    codings = [value for name, value in headers if name == b"transfer-encoding"]
    if codings:
        if lengths:
            raise ProtocolError(400, "Both Content-Length and Transfer-Encoding")
        if version == "1.0":
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if [c.strip().lower() for c in b",".join(codings).split(b",")] != [b"chunked"]:
            raise ProtocolError(501, "Unsupported Transfer-Encoding")
        return 0, True
    if not lengths:
        return 0, False
    if len(lengths) > 1:
        raise ProtocolError(400, "Conflicting Content-Length headers")
    (length,) = lengths
    if not length.isdigit() or len(length) > 18:
        raise ProtocolError(400, "Invalid Content-Length")
    return int(length), False


def parse_head(block: bytes, max_headers: int) -> RequestHead:
    """Parse a request line and header lines (no terminating blank line) into a :class:`RequestHead`."""
    lines = block.split(b"\n")
    request_line = lines[0].rstrip(b"\r")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise ProtocolError(400, "Malformed request line")
    method, target, version = parts
    if not _TOKEN.match(method) or not _TARGET.match(target):
        raise ProtocolError(400, "Malformed request line")
    if version == b"HTTP/1.1":
        http_version = "1.1"
    elif version == b"HTTP/1.0":
        http_version = "1.0"
    elif re.match(rb"HTTP/\d\.\d\Z", version):
        raise ProtocolError(505, "HTTP Version Not Supported")
    else:
        raise ProtocolError(400, "Malformed request line")
    if len(lines) - 1 > max_headers:
        raise ProtocolError(431, "Too many request headers")
    headers = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(400, "Folded header line")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise ProtocolError(400, "Malformed header line")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise ProtocolError(400, "Invalid character in header value")
        headers.append((name.lower(), value))
    return RequestHead(method, target, http_version, headers)


class RequestParser:
    """Turns the bytes of one connection into request events; see the module docstring."""

    __slots__ = ("_buffer", "_state", "_remaining", "_max_head", "_max_headers")

    def __init__(self, max_head_size: int = 16384, max_headers: int = 100) -> None:
        self._buffer = b""
        self._state = _HEAD
        self._remaining = 0
        self._max_head = max_head_size
        self._max_headers = max_headers

    @property
    def buffered(self) -> bytes:
        """Bytes received but not parsed yet (what follows an upgrade request, for example)."""
        return self._buffer

    @property
    def in_head(self) -> bool:
        """True while waiting for (the rest of) a request head."""
        return self._state == _HEAD

    def next_request(self) -> None:
        """Allow the next pipelined request to be parsed (call after the previous response is done)."""
        if self._state != _DONE:
            raise RuntimeError("next_request() before the current request ended")
        self._state = _HEAD

    def feed(self, data: bytes) -> list[Event]:
        """Add ``data`` and return the events it completes; raise ProtocolError on refused input."""
        if data:
            self._buffer = self._buffer + data if self._buffer else data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def _step(self, events: list[Event]) -> bool:
        state, buffer = self._state, self._buffer
        if state == _DONE:
            return False
        if state == _HEAD:
            return self._step_head(events)
        if state == _LENGTH or state == _CHUNK_DATA:
            if not buffer:
                return False
            piece = buffer[: self._remaining]
            self._buffer = buffer[len(piece):]
            self._remaining -= len(piece)
            events.append(piece)
            if self._remaining == 0:
                if state == _LENGTH:
                    self._finish(events)
                else:
                    self._state = _CHUNK_CRLF
            return True
        if state == _CHUNK_CRLF:
            if len(buffer) < 2 and buffer != b"\n":
                return False
            if buffer.startswith(b"\r\n"):
                self._buffer = buffer[2:]
            elif buffer.startswith(b"\n"):
                self._buffer = buffer[1:]
            else:
                raise ProtocolError(400, "Missing CRLF after chunk data")
            self._state = _CHUNK_SIZE
            return True
        line = self._take_line(_MAX_CHUNK_LINE if state == _CHUNK_SIZE else self._max_head)
        if line is None:
            return False
        if state == _CHUNK_SIZE:
            size = line.split(b";", 1)[0].strip()
            if not size or not re.match(rb"[0-9A-Fa-f]{1,15}\Z", size):
                raise ProtocolError(400, "Invalid chunk size")
            self._remaining = int(size, 16)
            self._state = _CHUNK_DATA if self._remaining else _TRAILER
        elif not line:  # _TRAILER: trailers are read and discarded; an empty line ends them
            self._finish(events)
        return True

    def _take_line(self, limit: int) -> bytes | None:
        index = self._buffer.find(b"\n")
        if index < 0:
            if len(self._buffer) > limit:
                raise ProtocolError(400, "Line too long")
            return None
        line, self._buffer = self._buffer[:index], self._buffer[index + 1:]
        return line.rstrip(b"\r")

    def _step_head(self, events: list[Event]) -> bool:
        buffer = self._buffer.lstrip(b"\r\n")  # RFC 9112 §2.2: ignore empty lines before a request line
        self._buffer = buffer
        match = _HEAD_END.search(buffer, 0, self._max_head + 4)
        if match is None:
            if len(buffer) > self._max_head:
                if buffer.find(b"\n", 0, self._max_head) < 0:
                    raise ProtocolError(414, "URI Too Long")
                raise ProtocolError(431, "Request Header Fields Too Large")
            return False
        head = parse_head(buffer[: match.start()], self._max_headers)
        self._buffer = buffer[match.end():]
        events.append(head)
        if head.chunked:
            self._state = _CHUNK_SIZE
        elif head.content_length:
            self._state = _LENGTH
            self._remaining = head.content_length
        else:
            self._finish(events)
        return True

    def _finish(self, events: list[Event]) -> None:
        self._state = _DONE
        events.append(END)

"""An incremental HTTP/1.0 and 1.1 request parser with no I/O (h11 style), strict to RFC 9112.

Theory of operation
-------------------
Bytes go in with :meth:`RequestParser.feed`; events come out: one :class:`RequestHead`, then body
``bytes`` pieces, then :data:`END`. After ``END`` the parser stops until :meth:`RequestParser.next_request`
is called, so pipelined requests are answered one at a time (the bytes that follow stay buffered).
Anything we refuse raises :class:`~interfaceserver.errors.ProtocolError` carrying the status to
answer with (400 malformed, 414/431 too large, 501 unknown transfer coding, 505 bad version); after
an error the connection must be closed, because the framing can no longer be trusted.

Cost is linear in the input: the parser keeps one ``bytearray`` and an offset into it, compacts it
once per :meth:`feed`, and remembers how far it has searched for the end of the current line, so a
head trickled in byte by byte is scanned once, and a body of many tiny chunks is never re-sliced.

Framing is as strict as llhttp (Node.js's parser) on what lets two parsers frame a request
differently: every line ends in CRLF (a bare LF is refused in the head, the chunk-size line, its
extensions, after chunk data and in trailers); a chunk size is hex digits only (no whitespace; any
number of leading zeros, at most 15 significant digits); chunk extensions follow the
``;name[=token|quoted-string]`` grammar (no CR, NUL or stray whitespace); trailer lines are checked
like header lines and count against the same limits (431). A request that has both
Content-Length and Transfer-Encoding, or several different Content-Lengths, is refused (smuggling).

Beyond llhttp, from RFC 9112 §3.2: an HTTP/1.1 request needs exactly one valid ``Host``; an
absolute-form target (``GET http://h/p``) becomes the origin form ``/p`` and its authority replaces
the Host value (§3.2.2); ``HTTP/1.x`` with x > 1 is served as 1.1 (§2.3), ``HTTP/2.0`` and up get 505.
Limits on the body size are the caller's business (it knows ``content_length`` up front, and counts
chunked bodies).
"""

from __future__ import annotations

import re
from typing import Final, Union

from .errors import ProtocolError

__all__ = ["END", "Event", "RequestHead", "RequestParser"]

END: Final = None
#: What :meth:`RequestParser.feed` returns: a head, a piece of body, or END.
Event = Union["RequestHead", bytes, None]

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]+\Z")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET = re.compile(rb"[\x21-\xff]+\Z")
#: A whole valid field line: token name, colon, value without leading or trailing whitespace.
_FIELD = re.compile(
    rb"([" + _TCHAR + rb"]+):[ \t]*((?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x08\x0a-\x1f\x7f \t])?)[ \t]*\Z"
)
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]+\Z")
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_EXT = re.compile(rb"(?:;[" + _TCHAR + rb"]+(?:=(?:[" + _TCHAR + rb"]+|" + _QUOTED + rb"))?)*\Z")
#: uri-host [":" port] (RFC 3986): an IP literal or a reg-name (which covers IPv4 and names).
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]*)?\Z")
_ABSOLUTE = re.compile(rb"(https?)://([^/?#]*)([^#]*)\Z", re.IGNORECASE)
_MAX_CHUNK_LINE = 1024
#: Significant hex digits of a chunk size (15 = just under 1 PiB; anything larger is an overflow).
_MAX_CHUNK_DIGITS = 15

#: The buffer of every parser with nothing buffered (idle keep-alive sockets): never written to,
#: since feed() replaces it before appending; saves a bytearray per idle connection.
_EMPTY = bytearray()

# Parser states.
_HEAD, _LENGTH, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _DONE = range(7)


class RequestHead:
    """A parsed request line and header block. Header names are lowercased; order and duplicates kept."""

    __slots__ = (
        "method",
        "target",
        "http_version",
        "headers",
        "keep_alive",
        "content_length",
        "chunked",
        "expect_continue",
        "upgrade",
    )

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
    if not length.isdigit() or len(length.lstrip(b"0")) > 18:
        raise ProtocolError(400, "Invalid Content-Length")
    return int(length), False


def _field(line: bytes, kind: str) -> tuple[bytes, bytes]:
    """One ``name: value`` line of the head or the trailer section, checked; the name lowercased."""
    match = _FIELD.match(line)
    if match is not None:  # the common case, in one regex; the checks below name what is wrong
        return match.group(1).lower(), match.group(2)
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError(400, f"Folded {kind} line")
    name, sep, value = line.partition(b":")
    if not sep or not _TOKEN.match(name):
        raise ProtocolError(400, f"Malformed {kind} line")
    value = value.strip(b" \t")
    if _BAD_VALUE.search(value):
        raise ProtocolError(400, f"Invalid character in {kind} value")
    return name.lower(), value


def _version(raw: bytes) -> str:
    match = _VERSION.match(raw)
    if match is None:
        raise ProtocolError(400, "Malformed request line")
    major, minor = match.groups()
    if major == b"1":
        return "1.0" if minor == b"0" else "1.1"  # a later 1.x minor is served as 1.1 (RFC 9110 §2.5)
    raise ProtocolError(505, "HTTP Version Not Supported")


def _origin_form(target: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """An absolute-form target as origin form, with its authority as the only Host (RFC 9112 §3.2.2)."""
    match = _ABSOLUTE.match(target)
    if match is None:
        raise ProtocolError(400, "Invalid request target")
    authority, rest = match.group(2), match.group(3)
    if b"@" in authority or not authority or not _HOST.match(authority):
        raise ProtocolError(400, "Invalid request target")
    path = rest if rest.startswith(b"/") else b"/" + rest
    return path, [(name, authority if name == b"host" else value) for name, value in headers]


def _check_host(headers: list[tuple[bytes, bytes]], version: str) -> None:
    hosts = [value for name, value in headers if name == b"host"]
    if len(hosts) > 1:
        raise ProtocolError(400, "Multiple Host headers")
    if not hosts:
        if version == "1.1":
            raise ProtocolError(400, "Missing Host header")
        return
    if not _HOST.match(hosts[0]):
        raise ProtocolError(400, "Invalid Host header")


def parse_head(block: bytes, max_headers: int) -> RequestHead:
    """Parse a request line and CRLF-separated header lines (no terminating blank line) into a head."""
    lines = block.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise ProtocolError(400, "Malformed request line")
    method, target, raw_version = parts
    if not _TOKEN.match(method) or not _TARGET.match(target):
        raise ProtocolError(400, "Malformed request line")
    http_version = _version(raw_version)
    if len(lines) - 1 > max_headers:
        raise ProtocolError(431, "Too many request headers")
    headers = [_field(line, "header") for line in lines[1:]]
    if not target.startswith(b"/") and b"://" in target:
        target, headers = _origin_form(target, headers)
    head = RequestHead(method, target, http_version, headers)
    _check_host(headers, http_version)
    return head


class RequestParser:
    """Turns the bytes of one connection into request events; see the module docstring."""

    __slots__ = (
        "_buffer",
        "_offset",
        "_scan",
        "_state",
        "_remaining",
        "_max_head",
        "_max_headers",
        "_lines",
        "_section",
        "_start",
        "_body",
    )

    def __init__(self, max_head_size: int = 16384, max_headers: int = 100) -> None:
        self._buffer = _EMPTY
        self._offset = 0  # first byte not consumed yet
        self._scan = 0  # where the search for the current line's end resumes (never behind _offset)
        self._state = _HEAD
        self._remaining = 0
        self._max_head = max_head_size
        self._max_headers = max_headers
        self._lines = 0  # header or trailer lines seen in the current section
        self._section = 0  # start of the current head or trailer section in _buffer
        self._start = 0  # start of the line being read
        self._body: list[bytes] | None = None  # body pieces of this feed, joined into one event

    @property
    def buffered(self) -> bytes:
        """Bytes received but not parsed yet (what follows an upgrade request, for example)."""
        return bytes(self._buffer[self._offset :])

    @property
    def buffered_size(self) -> int:
        """How many bytes :attr:`buffered` holds, without copying them."""
        return len(self._buffer) - self._offset

    @property
    def in_head(self) -> bool:
        """True while waiting for (the rest of) a request head."""
        return self._state == _HEAD

    def next_request(self) -> None:
        """Allow the next pipelined request to be parsed (call after the previous response is done)."""
        if self._state != _DONE:
            raise RuntimeError("next_request() before the current request ended")
        self._state = _HEAD
        self._section = self._scan = self._start = self._offset
        self._lines = 0

    def feed(self, data: bytes) -> list[Event]:
        """Add ``data`` and return the events it completes; raise ProtocolError on refused input."""
        events: list[Event] = []
        if self._state == _LENGTH and data and self._offset == len(self._buffer):
            # An upload's common case: the whole feed is body, handed on as it came (no copy).
            take = min(len(data), self._remaining)
            self._body = [data if take == len(data) else data[:take]]
            self._remaining -= take
            data = data[take:]
            if not self._remaining:
                self._finish(events)
        if self._offset:  # one compaction per feed: drop what earlier calls consumed
            buffer = self._buffer
            del buffer[: self._offset]  # CPython moves the start of a bytearray: no copy
            self._rebase(buffer)
        if not data:
            pass
        elif self._buffer is _EMPTY:
            self._buffer = bytearray(data)
        else:
            self._buffer += data
        while self._step(events):
            pass
        self._flush_body(events)
        if self._offset and self._offset == len(self._buffer):
            self._rebase(_EMPTY)  # all consumed: an idle connection keeps no buffer behind
        return events

    def _rebase(self, buffer: bytearray) -> None:
        """Replace the buffer by ``buffer`` = its unconsumed tail, moving every position with it."""
        shift = self._offset
        self._buffer = buffer
        self._offset = 0
        self._scan -= shift
        self._section -= shift
        self._start -= shift

    # -- internals ---------------------------------------------------------------------------

    def _flush_body(self, events: list[Event]) -> None:
        body = self._body
        if body is not None:
            events.append(body[0] if len(body) == 1 else b"".join(body))
            self._body = None

    def _line(self, limit: int | None = None) -> int | None:
        """End (index of the CR) of the line starting at ``_start``, or None if it is not complete.

        The search resumes where the previous call stopped, so each byte is looked at once. A LF
        without the CR before it is refused; so is a line longer than ``limit`` (ProtocolError 400).
        """
        buffer = self._buffer
        index = buffer.find(b"\n", self._scan)
        if index < 0:
            self._scan = len(buffer)
            if limit is not None and len(buffer) - self._start > limit:
                raise ProtocolError(400, "Line too long")
            return None
        if index == self._start or buffer[index - 1] != 0x0D:
            raise ProtocolError(400, "Line ending without CR")
        self._scan = index + 1
        return index - 1

    def _step(self, events: list[Event]) -> bool:
        state = self._state
        if state == _DONE:
            return False
        if state == _HEAD:
            return self._step_head(events)
        buffer, offset = self._buffer, self._offset
        available = len(buffer) - offset
        if state == _LENGTH or state == _CHUNK_DATA:
            if not available:
                return False
            take = min(available, self._remaining)
            piece = bytes(buffer[offset : offset + take])
            if self._body is None:
                self._body = [piece]
            else:
                self._body.append(piece)
            self._offset = self._scan = self._start = offset + take
            self._remaining -= take
            if self._remaining == 0:
                if state == _LENGTH:
                    self._finish(events)
                else:
                    self._state = _CHUNK_CRLF
            return True
        if state == _CHUNK_CRLF:
            if available < 2:
                if available == 1 and buffer[offset] != 0x0D:
                    raise ProtocolError(400, "Missing CRLF after chunk data")
                return False
            if buffer[offset : offset + 2] != b"\r\n":
                raise ProtocolError(400, "Missing CRLF after chunk data")
            self._offset = self._scan = self._start = offset + 2
            self._state = _CHUNK_SIZE_LINE
            return True
        if state == _CHUNK_SIZE_LINE:
            end = self._line(_MAX_CHUNK_LINE)
            if end is None:
                return False
            self._offset = self._start = end + 2
            self._chunk_size(bytes(buffer[offset:end]))
            return True
        return self._step_trailer(events)

    def _chunk_size(self, line: bytes) -> None:
        size, semicolon, ext = line.partition(b";")
        if not _CHUNK_SIZE.match(size):
            raise ProtocolError(400, "Invalid chunk size")
        if len(size.lstrip(b"0")) > _MAX_CHUNK_DIGITS:
            raise ProtocolError(400, "Chunk size overflow")
        if semicolon and not _CHUNK_EXT.match(semicolon + ext):
            raise ProtocolError(400, "Invalid chunk extension")
        self._remaining = int(size, 16)
        if self._remaining:
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILER
            self._section = self._offset
            self._lines = 0

    def _step_trailer(self, events: list[Event]) -> bool:
        """Trailer fields: checked like header lines, same limits, then discarded."""
        start = self._start
        end = self._line()
        used = len(self._buffer) - self._section if end is None else end - self._section
        if used > self._max_head:
            raise ProtocolError(431, "Trailer fields too large")
        if end is None:
            return False
        self._offset = self._start = end + 2
        if end == start:
            self._finish(events)
            return True
        self._lines += 1
        if self._lines > self._max_headers:
            raise ProtocolError(431, "Too many trailer fields")
        _field(bytes(self._buffer[start:end]), "trailer")
        return True

    def _step_head(self, events: list[Event]) -> bool:
        buffer = self._buffer
        if self._lines == 0:
            # RFC 9112 §2.2: empty lines (CRLF) before a request line are ignored.
            while buffer.startswith(b"\r\n", self._offset):
                self._offset += 2
                self._section = self._scan = self._start = self._offset
            if len(buffer) - self._offset == 1 and buffer[self._offset] == 0x0D:
                return False
            if self._scan == self._section and self._complete_head(events):
                return True
        while True:
            start = self._start
            end = self._line()
            used = len(buffer) - self._section if end is None else end - self._section
            if used > self._max_head:
                if self._lines == 0:
                    raise ProtocolError(414, "URI Too Long")
                raise ProtocolError(431, "Request Header Fields Too Large")
            if end is None:
                return False
            self._start = end + 2
            if self._lines and end == start:  # the empty line: the head is complete
                break
            self._lines += 1
            if self._lines > self._max_headers + 1:
                raise ProtocolError(431, "Too many request headers")
        self._head_parsed(events, parse_head(bytes(buffer[self._section : start - 2]), self._max_headers), end + 2)
        return True

    def _complete_head(self, events: list[Event]) -> bool:
        """The fast path for a head that arrived whole: one search for its end, no line-by-line scan.

        Taken only on the first look at a head, so a trickled head still costs one pass; a head with
        a bare LF (or not complete yet) is left to the line scanner, which names the problem.
        """
        buffer, section = self._buffer, self._section
        end = buffer.find(b"\r\n\r\n", section, section + self._max_head + 4)
        if end < 0:
            return False
        block = bytes(buffer[section:end])
        if block.count(b"\n") != block.count(b"\r\n") or block.startswith(b"\n"):
            return False
        self._head_parsed(events, parse_head(block, self._max_headers), end + 4)
        return True

    def _head_parsed(self, events: list[Event], head: RequestHead, after: int) -> None:
        self._offset = self._scan = self._start = after
        self._lines = 0
        events.append(head)
        if head.chunked:
            self._state = _CHUNK_SIZE_LINE
        elif head.content_length:
            self._state = _LENGTH
            self._remaining = head.content_length
        else:
            self._finish(events)

    def _finish(self, events: list[Event]) -> None:
        self._flush_body(events)
        self._state = _DONE
        events.append(END)

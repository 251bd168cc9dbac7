"""RFC 6455 for the server side, with no I/O: the opening handshake and the frame codec (wsproto style).

Theory of operation
-------------------
:func:`handshake_key` checks an upgrade request and returns its key (or raises ProtocolError with
400/426); :func:`accept_response` builds the 101 answer. After that, bytes from the client go into
:meth:`FrameParser.feed`, which returns complete messages and control frames as ``(opcode,
payload)`` pairs: text payloads are ``str``, binary ``bytes``, a close frame gives ``(CLOSE, (code,
reason))``. Fragmented messages are reassembled (text ones decoded as their fragments arrive, so
invalid UTF-8 fails at the fragment that carries it). Anything RFC 6455 forbids raises
:class:`~interfaceserver.errors.WebSocketProtocolError` with the close code to send: 1002 for
framing errors (unmasked frames, reserved bits, bad opcodes, bad control frames, bad close codes),
1007 for invalid UTF-8 text and 1009 for a message above the size limit.

The parser keeps nothing between frames but an empty ``bytes`` and a few ints, so an idle socket
costs a few dozen bytes here.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import struct
from typing import Any

from autobahn.websocket.xormasker import create_xor_masker

from channellayer.messages import is_wire_close_code

from .errors import ProtocolError, WebSocketProtocolError
from .http11 import RequestHead

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "FrameParser",
    "accept_response",
    "close_frame",
    "encode_frame",
    "handshake_key",
    "offered_protocols",
    "refusal_response",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake_key(head: RequestHead) -> bytes:
    """The Sec-WebSocket-Key of a valid upgrade request; ProtocolError(400 or 426) otherwise."""
    if head.method != b"GET" or head.http_version != "1.1":
        raise ProtocolError(400, "WebSocket upgrade needs GET and HTTP/1.1")
    if head.header(b"sec-websocket-version") != b"13":
        raise ProtocolError(426, "Unsupported WebSocket version")
    key = head.header(b"sec-websocket-key")
    try:
        if key is None or len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise ProtocolError(400, "Missing or invalid Sec-WebSocket-Key") from None
    return key


def offered_protocols(head: RequestHead) -> list[str]:
    """The client's Sec-WebSocket-Protocol values, in its order of preference."""
    values = b",".join(value for name, value in head.headers if name == b"sec-websocket-protocol")
    return [p.strip().decode("latin-1") for p in values.split(b",") if p.strip()]


def accept_response(key: bytes, subprotocol: str | None, server: bytes = b"Daphne") -> bytes:
    """The ``101 Switching Protocols`` response head for ``key``."""
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    lines = [
        b"HTTP/1.1 101 Switching Protocols",
        b"Server: " + server,
        b"Upgrade: WebSocket",
        b"Connection: Upgrade",
    ]
    if subprotocol:  # before the accept key, byte for byte as Daphne 1.4.2 (Autobahn) answered
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode("latin-1"))
    lines.append(b"Sec-WebSocket-Accept: " + accept)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def refusal_response(status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """A refused handshake as Daphne 1.4.2 answered it: the reason is the status line's phrase
    (``HTTP/1.1 403 Access denied``), then only ``headers``; no body, and the connection closes."""
    lines = [b"HTTP/1.1 %d %s" % (status, reason.encode("latin-1"))]
    lines += [name + b": " + value for name, value in headers or ()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (servers never mask)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return encode_frame(CLOSE, struct.pack("!H", code) + reason.encode("utf8")[:123])


# Autobahn's masker is C (its NVX extension) when the wheel has it: about 4x faster than the big-integer
# XOR on a 1 MiB payload, but ~2.5 us of set-up makes it 5x slower on a 100-byte chat frame.
_NVX_MASKER = type(create_xor_masker(b"\0\0\0\0", 1)).__module__.startswith("autobahn.nvx")
_NVX_THRESHOLD = 4096


def _unmask(data: bytes, mask: bytes) -> bytes:
    length = len(data)
    if not length:
        return b""
    if _NVX_MASKER and length >= _NVX_THRESHOLD:
        return bytes(create_xor_masker(mask, length).process(data))
    # XOR as one big integer: linear time, and far faster than a Python loop over bytes.
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")


_Utf8Decoder = codecs.getincrementaldecoder("utf8")


class FrameParser:
    """Client-to-server frame decoder; see the module docstring."""

    __slots__ = ("_buffer", "_max_message", "_fragment_opcode", "_fragments", "_fragment_size", "_text")

    def __init__(self, max_message: int = 1024 * 1024) -> None:
        self._buffer = b""
        self._max_message = max_message
        self._fragment_opcode = 0
        self._fragments: list[Any] | None = None
        self._fragment_size = 0
        # While a fragmented text message is open: its incremental UTF-8 decoder, so invalid UTF-8
        # fails the connection at the fragment that carries it (RFC 6455 §8.1), not at the end.
        self._text: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> list[tuple[int, Any]]:
        """Add ``data``; return completed ``(opcode, payload)`` events. Raises WebSocketProtocolError."""
        buffer = self._buffer + data if self._buffer else data
        events: list[tuple[int, Any]] = []
        offset = 0
        while True:
            frame = self._frame_at(buffer, offset)
            if frame is None:
                break
            offset, fin, opcode, payload = frame
            event = self._on_frame(fin, opcode, payload)
            if event is not None:
                events.append(event)
                if event[0] == CLOSE:
                    offset = len(buffer)  # nothing after a close frame is read
                    break
        self._buffer = buffer[offset:] if offset < len(buffer) else b""
        return events

    def _frame_at(self, buffer: bytes, offset: int) -> tuple[int, bool, int, bytes] | None:
        available = len(buffer) - offset
        if available < 2:
            return None
        first, second = buffer[offset], buffer[offset + 1]
        if first & 0x70:
            raise WebSocketProtocolError(1002, "Reserved bits set")
        if not second & 0x80:
            raise WebSocketProtocolError(1002, "Client frame is not masked")
        opcode, length = first & 0x0F, second & 0x7F
        position = offset + 2
        if length == 126:
            if available < 4:
                return None
            (length,) = struct.unpack_from("!H", buffer, position)
            position += 2
        elif length == 127:
            if available < 10:
                return None
            (length,) = struct.unpack_from("!Q", buffer, position)
            position += 8
        if opcode >= 0x8 and (length > 125 or not first & 0x80):
            raise WebSocketProtocolError(1002, "Control frame too long or fragmented")
        if length + self._fragment_size > self._max_message:
            raise WebSocketProtocolError(1009, f"Message larger than {self._max_message} bytes")
        end = position + 4 + length
        if len(buffer) < end:
            return None
        payload = _unmask(buffer[position + 4 : end], buffer[position : position + 4])
        return end, bool(first & 0x80), opcode, payload

    def _on_frame(self, fin: bool, opcode: int, payload: bytes) -> tuple[int, Any] | None:
        if opcode in (PING, PONG):
            return opcode, payload
        if opcode == CLOSE:
            return CLOSE, _parse_close(payload)
        if opcode == CONTINUATION:
            if self._fragments is None:
                raise WebSocketProtocolError(1002, "Continuation frame without a message")
            self._fragments.append(self._decode_fragment(payload, fin))
            self._fragment_size += len(payload)
            if not fin:
                return None
            opcode, parts = self._fragment_opcode, self._fragments
            self._fragments, self._fragment_size, self._text = None, 0, None
            return (TEXT, "".join(parts)) if opcode == TEXT else (BINARY, b"".join(parts))
        elif opcode in (TEXT, BINARY):
            if self._fragments is not None:
                raise WebSocketProtocolError(1002, "New message before the previous one ended")
            if not fin:
                self._fragment_opcode, self._fragment_size = opcode, len(payload)
                self._text = _Utf8Decoder() if opcode == TEXT else None
                self._fragments = [self._decode_fragment(payload, False)]
                return None
        else:
            raise WebSocketProtocolError(1002, f"Reserved opcode {opcode:#x}")
        if opcode == TEXT:
            try:
                return TEXT, payload.decode("utf8")
            except UnicodeDecodeError:
                raise WebSocketProtocolError(1007, "Invalid UTF-8 in text message") from None
        return BINARY, payload

    def _decode_fragment(self, payload: bytes, final: bool) -> Any:
        """A text fragment's decoded characters (a sequence split across fragments waits for the
        rest); a binary fragment unchanged."""
        if self._text is None:
            return payload
        try:
            return self._text.decode(payload, final)
        except UnicodeDecodeError:
            raise WebSocketProtocolError(1007, "Invalid UTF-8 in text message") from None


def _parse_close(payload: bytes) -> tuple[int, str]:
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise WebSocketProtocolError(1002, "Close frame with a 1-byte payload")
    (code,) = struct.unpack_from("!H", payload)
    if not is_wire_close_code(code):
        raise WebSocketProtocolError(1002, f"Invalid close code {code}")
    try:
        reason = payload[2:].decode("utf8")
    except UnicodeDecodeError:
        raise WebSocketProtocolError(1007, "Invalid UTF-8 in close reason") from None
    return code, reason

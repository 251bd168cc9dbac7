"""The pure RFC 6455 codec: handshake, frame decoding with reassembly, and the close code for each violation."""

from __future__ import annotations

import pytest

from interfaceserver.errors import ProtocolError, WebSocketProtocolError
from interfaceserver.http11 import RequestParser
from interfaceserver.websocket_frames import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    FrameParser,
    accept_response,
    close_frame,
    encode_frame,
    handshake_key,
    offered_protocols,
)


def masked(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bytes = b"\x0a\x0b\x0c\x0d") -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        header = bytes([first, 0x80 | n])
    elif n < 65536:
        header = bytes([first, 0xFE]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 0xFF]) + n.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade(extra: bytes = b"") -> object:
    return RequestParser().feed(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )[0]


def test_accept_key_is_the_rfc_example():
    """The RFC 6455 §1.3 example key gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo= and the subprotocol is echoed."""
    head = upgrade(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    response = accept_response(handshake_key(head), "chat")
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"Sec-WebSocket-Protocol: chat\r\n" in response


def test_handshake_refusals():
    """A missing key is 400; a version other than 13 is 426."""
    with pytest.raises(ProtocolError) as info:
        handshake_key(upgrade())
    assert info.value.status == 400
    head = RequestParser().feed(
        b"GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )[0]
    with pytest.raises(ProtocolError) as info:
        handshake_key(head)
    assert info.value.status == 426


def test_offered_protocols_in_client_order():
    """Sec-WebSocket-Protocol values are split on commas across header lines, order kept."""
    head = upgrade(b"Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n")
    assert offered_protocols(head) == ["a", "b", "c"]


@pytest.mark.parametrize("size", [0, 125, 126, 4095, 4096, 4099, 65535, 65536, 200000])
def test_round_trip_sizes(size):
    """Every length encoding (7-bit, 16-bit, 64-bit) decodes to the same payload, on both sides of the
    size where unmasking switches to Autobahn's masker."""
    payload = bytes(i % 256 for i in range(size))
    assert FrameParser(max_message=1 << 20).feed(masked(BINARY, payload)) == [(BINARY, payload)]
    encoded = encode_frame(BINARY, payload)
    assert encoded.endswith(payload) and encoded[0] == 0x82


def test_text_fragments_and_interleaved_ping():
    """A fragmented text message is reassembled, with a ping in between delivered at once."""
    parser = FrameParser()
    data = masked(TEXT, "hé".encode(), fin=False) + masked(PING, b"p") + masked(0x0, b"llo")
    assert parser.feed(data[:5]) == []
    assert parser.feed(data[5:]) == [(PING, b"p"), (TEXT, "héllo")]


def test_character_split_across_fragments():
    """A UTF-8 sequence cut between two fragments (and binary fragments) are reassembled whole."""
    encoded = "añb€".encode()
    parser = FrameParser()
    data = masked(TEXT, encoded[:2], fin=False) + masked(0x0, encoded[2:5], fin=False) + masked(0x0, encoded[5:])
    assert parser.feed(data) == [(TEXT, "añb€")]
    assert parser.feed(masked(BINARY, b"\xff", fin=False) + masked(0x0, b"\xfe")) == [(BINARY, b"\xff\xfe")]


def test_invalid_utf8_fails_at_its_fragment():
    """Invalid UTF-8 in the first fragment of an unfinished text message fails at once with 1007."""
    parser = FrameParser()
    with pytest.raises(WebSocketProtocolError) as error:
        parser.feed(masked(TEXT, b"ok\xff", fin=False))
    assert error.value.code == 1007 and "Invalid UTF-8" in str(error.value)


def test_text_ending_inside_a_character_is_invalid():
    """A fragmented text message whose last fragment stops mid-sequence is refused with 1007."""
    parser = FrameParser()
    assert parser.feed(masked(TEXT, b"a\xe2", fin=False)) == []
    with pytest.raises(WebSocketProtocolError) as error:
        parser.feed(masked(0x0, b"\x82"))
    assert error.value.code == 1007


def test_close_frame_parsing():
    """A close frame gives its code and reason; an empty one means 1005; nothing after it is read."""
    assert FrameParser().feed(masked(CLOSE, b"\x0f\xa0bye") + masked(TEXT, b"late")) == [(CLOSE, (4000, "bye"))]
    assert FrameParser().feed(masked(CLOSE, b"")) == [(CLOSE, (1005, ""))]
    assert close_frame(1001, "going") == b"\x88\x07\x03\xe9going"


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_frame_with_a_code_no_frame_may_carry_is_1002(code):
    """A peer's close code outside the wire rule (RFC 6455 §7.4: reserved, local-only, unassigned) closes with 1002."""
    with pytest.raises(WebSocketProtocolError) as info:
        FrameParser().feed(masked(CLOSE, code.to_bytes(2, "big")))
    assert info.value.code == 1002 and str(code) in str(info.value)


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999])
def test_close_frame_with_a_registered_or_private_code_is_read(code):
    """A peer may close with any registered code (IANA added 1012-1014) or a 3000-4999 one."""
    assert FrameParser().feed(masked(CLOSE, code.to_bytes(2, "big"))) == [(CLOSE, (code, ""))]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (bytes([0x81, 0x01]) + b"x", 1002),
        (masked(TEXT, b"x", rsv=0x20), 1002),
        (masked(0xB, b""), 1002),
        (masked(PING, b"x" * 126), 1002),
        (masked(PING, b"", fin=False), 1002),
        (masked(0x0, b"x"), 1002),
        (masked(TEXT, b"a", fin=False) + masked(TEXT, b"b"), 1002),
        (masked(CLOSE, b"\x03"), 1002),
        (masked(CLOSE, b"\x03\xee"), 1002),
        (masked(CLOSE, b"\x03\xe8\xff"), 1007),
        (masked(TEXT, b"\xc3\x28"), 1007),
        (masked(BINARY, b"x" * 101), 1009),
        (masked(BINARY, b"x" * 60, fin=False) + masked(0x0, b"x" * 60), 1009),
    ],
    ids=[
        "unmasked",
        "rsv",
        "opcode",
        "long-ping",
        "fragmented-ping",
        "orphan",
        "interleaved",
        "close-1-byte",
        "close-1006",
        "close-utf8",
        "text-utf8",
        "too-big",
        "too-big-fragments",
    ],
)
def test_violations_give_close_codes(data, code):
    """Each protocol violation raises WebSocketProtocolError with the close code to send."""
    with pytest.raises(WebSocketProtocolError) as info:
        FrameParser(max_message=100).feed(data)
    assert info.value.code == code


def test_oversize_length_refused_before_payload_arrives():
    """A header announcing a message above the limit is refused without waiting for (or buffering) the payload."""
    header = bytes([0x82, 0xFF]) + (10**9).to_bytes(8, "big") + b"mask"
    with pytest.raises(WebSocketProtocolError) as info:
        FrameParser(max_message=1000).feed(header)
    assert info.value.code == 1009


def test_message_limit_fits_the_layer():
    """The per-socket WebSocket limit is --max-ws-message, lowered so the encoded websocket.receive always fits
    the layer's max_message_size (worst-case order, long paths, text or bytes)."""
    from channellayer.codec import Codec
    from interfaceserver.messages import websocket_receive_message
    from interfaceserver.websocket import message_limit

    reply = "daphne.response.abcdefghij!abcdefghij"
    assert message_limit(5000, None, reply, "/ws") == 5000
    assert message_limit(5000, 1024 * 1024, reply, "/ws") == 5000
    codec = Codec(max_message_size=1024 * 1024)
    for path in ("/", "/ws/" + "p" * 300, "/" + "\u00e9" * 40000):
        limit = message_limit(2 * 1024 * 1024, 1024 * 1024, reply, path)
        assert 1024 * 1024 - limit < 100 + len(path.encode())
        for payload in (b"x" * limit, "y" * limit):
            codec.encode("websocket.receive", websocket_receive_message(reply, path, 2**64 - 1, payload))

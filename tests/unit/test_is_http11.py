"""The pure HTTP/1.x request parser: events, framing, keep-alive rules and refusals with their status."""

from __future__ import annotations

import pytest

from interfaceserver.errors import ProtocolError
from interfaceserver.http11 import END, RequestHead, RequestParser


def parse(data: bytes, **limits) -> list:
    return RequestParser(**limits).feed(data)


def test_simple_get_gives_head_and_end():
    """A GET without a body is a head followed directly by END; names are lowercased, values kept."""
    events = parse(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Thing: Value\r\n\r\n")
    head, end = events
    assert isinstance(head, RequestHead) and end is END
    assert (head.method, head.target, head.http_version) == (b"GET", b"/a?b=1", "1.1")
    assert head.headers == [(b"host", b"x"), (b"x-thing", b"Value")]
    assert head.keep_alive and not head.upgrade


def test_byte_at_a_time_equals_all_at_once():
    """Feeding one byte at a time yields the same events as one feed."""
    raw = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    parser = RequestParser()
    events = []
    for i in range(len(raw)):
        events.extend(parser.feed(raw[i:i + 1]))
    assert events[0].method == b"POST"
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"hello"
    assert events[-1] is END


def test_chunked_body_with_extensions_and_trailers():
    """Chunked bodies are de-chunked; chunk extensions and trailers are ignored."""
    events = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"abcde"
    assert events[-1] is END


def test_pipelined_request_waits_for_next_request():
    """The second pipelined request stays buffered until next_request() is called."""
    parser = RequestParser()
    events = parser.feed(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    assert [e.target for e in events if isinstance(e, RequestHead)] == [b"/1"]
    assert parser.buffered == b"GET /2 HTTP/1.1\r\n\r\n"
    parser.next_request()
    assert parser.feed(b"")[0].target == b"/2"


def test_next_request_before_end_is_a_bug():
    """Calling next_request() mid-request raises RuntimeError."""
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na")
    with pytest.raises(RuntimeError):
        parser.next_request()


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_keep_alive_rules(raw, keep_alive):
    """HTTP/1.1 persists unless Connection: close; HTTP/1.0 only with Connection: keep-alive."""
    assert parse(raw)[0].keep_alive is keep_alive


def test_upgrade_and_expect_flags():
    """Upgrade: websocket with Connection: Upgrade is an upgrade; Expect: 100-continue is noticed."""
    head = parse(b"GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n")[0]
    assert head.upgrade
    head = parse(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")[0]
    assert head.expect_continue


def test_leading_empty_lines_are_ignored():
    """Empty lines before a request line are skipped (RFC 9112 §2.2)."""
    assert parse(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n")[0].target == b"/"


@pytest.mark.parametrize(
    ("raw", "status", "detail"),
    [
        (b"NONSENSE\r\n\r\n", 400, "Malformed request line"),
        (b"GET / HTTP/2.0\r\n\r\n", 505, "HTTP Version Not Supported"),
        (b"GET / FTP/1.0\r\n\r\n", 400, "Malformed request line"),
        (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400, "Malformed header line"),
        (b"GET / HTTP/1.1\r\nA: 1\r\n\tfolded\r\n\r\n", 400, "Folded header line"),
        (b"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n", 400, "Invalid character in header value"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "Both Content-Length and Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "Conflicting Content-Length headers"),
        (b"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Unsupported Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, "Invalid chunk size"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", 400, "Missing CRLF after chunk data"),
    ],
)
def test_refused_input(raw, status, detail):
    """Malformed or smuggling-prone requests raise ProtocolError with the status to answer."""
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert (info.value.status, info.value.detail) == (status, detail)


def test_same_content_length_twice_is_accepted():
    """Repeated identical Content-Length values are one length (RFC 9110 §8.6)."""
    events = parse(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    assert events[0].content_length == 2


def test_header_limits():
    """Too many header lines or too large a head give 431; an endless request line gives 414."""
    with pytest.raises(ProtocolError) as info:
        parse(b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 11 + b"\r\n", max_headers=10)
    assert info.value.status == 431
    with pytest.raises(ProtocolError) as info:
        parse(b"GET / HTTP/1.1\r\nA: " + b"x" * 200, max_head_size=100)
    assert info.value.status == 431
    with pytest.raises(ProtocolError) as info:
        parse(b"GET /" + b"x" * 200, max_head_size=100)
    assert info.value.status == 414


def test_random_splits_give_the_same_events():
    """Any way of cutting a stream of pipelined requests into pieces yields the same events (seeded)."""
    import random

    stream = (b"POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"
              b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
              b"GET /c HTTP/1.0\r\n\r\n")

    def run(pieces):
        parser, out = RequestParser(), []
        for piece in pieces:
            events = parser.feed(piece)
            while True:
                for event in events:
                    out.append(("head", event.target) if isinstance(event, RequestHead) else event)
                if not events or events[-1] is not END:
                    break
                parser.next_request()
                events = parser.feed(b"")
        merged = []
        for event in out:  # body pieces depend on the cuts; compare them joined
            if isinstance(event, bytes) and merged and isinstance(merged[-1], bytearray):
                merged[-1] += event
            else:
                merged.append(bytearray(event) if isinstance(event, bytes) else event)
        return merged

    expected = run([stream])
    rng = random.Random(1234)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 20)))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert run(pieces) == expected

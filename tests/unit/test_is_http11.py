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
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    parser = RequestParser()
    events = []
    for i in range(len(raw)):
        events.extend(parser.feed(raw[i : i + 1]))
    assert events[0].method == b"POST"
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"hello"
    assert events[-1] is END


def test_chunked_body_with_extensions_and_trailers():
    """Chunked bodies are de-chunked; chunk extensions and trailers are ignored."""
    events = parse(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
    )
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"abcde"
    assert events[-1] is END


def test_pipelined_request_waits_for_next_request():
    """The second pipelined request stays buffered until next_request() is called."""
    parser = RequestParser()
    events = parser.feed(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert [e.target for e in events if isinstance(e, RequestHead)] == [b"/1"]
    assert parser.buffered == b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
    parser.next_request()
    assert parser.feed(b"")[0].target == b"/2"


def test_next_request_before_end_is_a_bug():
    """Calling next_request() mid-request raises RuntimeError."""
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na")
    with pytest.raises(RuntimeError):
        parser.next_request()


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_keep_alive_rules(raw, keep_alive):
    """HTTP/1.1 persists unless Connection: close; HTTP/1.0 only with Connection: keep-alive."""
    assert parse(raw)[0].keep_alive is keep_alive


def test_upgrade_and_expect_flags():
    """Upgrade: websocket with Connection: Upgrade is an upgrade; Expect: 100-continue is noticed."""
    head = parse(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n")[0]
    assert head.upgrade
    head = parse(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")[0]
    assert head.expect_continue


def test_leading_empty_lines_are_ignored():
    """Empty lines before a request line are skipped (RFC 9112 §2.2)."""
    assert parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")[0].target == b"/"


@pytest.mark.parametrize(
    ("raw", "status", "detail"),
    [
        (b"NONSENSE\r\n\r\n", 400, "Malformed request line"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP Version Not Supported"),
        (b"GET / FTP/1.0\r\n\r\n", 400, "Malformed request line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400, "Malformed header line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n\tfolded\r\n\r\n", 400, "Folded header line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: x\x00y\r\n\r\n", 400, "Invalid character in header value"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "Both Content-Length and Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
            "Conflicting Content-Length headers",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400, "Invalid Content-Length"),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            "Unsupported Transfer-Encoding",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, "Invalid chunk size"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
            400,
            "Missing CRLF after chunk data",
        ),
    ],
)
def test_refused_input(raw, status, detail):
    """Malformed or smuggling-prone requests raise ProtocolError with the status to answer."""
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert (info.value.status, info.value.detail) == (status, detail)


def test_same_content_length_twice_is_accepted():
    """Repeated identical Content-Length values are one length (RFC 9110 §8.6)."""
    events = parse(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    assert events[0].content_length == 2


def test_header_limits():
    """Too many header lines or too large a head give 431; an endless request line gives 414."""
    with pytest.raises(ProtocolError) as info:
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A: b\r\n" * 11 + b"\r\n", max_headers=10)
    assert info.value.status == 431
    with pytest.raises(ProtocolError) as info:
        parse(b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"x" * 200, max_head_size=100)
    assert info.value.status == 431
    with pytest.raises(ProtocolError) as info:
        parse(b"GET /" + b"x" * 200, max_head_size=100)
    assert info.value.status == 414


def test_random_splits_give_the_same_events():
    """Any way of cutting a stream of pipelined requests into pieces yields the same events (seeded)."""
    import random

    stream = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n"
        b"GET /c HTTP/1.0\r\n\r\n"
    )

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


CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"3\nabc\r\n0\r\n\r\n", 400, "Line ending without CR"),  # bare LF ends the chunk-size line
        (b"3;a=b\nabc\r\n0\r\n\r\n", 400, "Line ending without CR"),  # bare LF inside an extension
        (b"3\r\nabc\n0\r\n\r\n", 400, "Missing CRLF after chunk data"),  # bare LF after chunk data
        (b"3\r\nabcd\r\n0\r\n\r\n", 400, "Missing CRLF after chunk data"),  # more data than the size said
        (b"0\n\r\n", 400, "Line ending without CR"),  # bare LF ending the last chunk
        (b"0\r\n\n", 400, "Line ending without CR"),  # bare LF ending the trailer section
        (b"3\r\nabc\r\n0\r\nT: 1\n\r\n", 400, "Line ending without CR"),  # bare LF in a trailer line
        (b" 3\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),  # whitespace before the size
        (b"3 \r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),  # whitespace after the size
        (b"3\t;a=b\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),  # whitespace before an extension
        (b"-3\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),
        (b"0x3\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),
        (b"\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk size"),  # empty size
        (b"1" + b"0" * 15 + b"\r\n", 400, "Chunk size overflow"),  # 16 significant hex digits
        (b"3;a=\rb\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"),  # CR inside an extension
        (b"3;a=\x00b\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"),  # NUL inside an extension
        (b"3; a=b\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"),  # whitespace inside an extension
        (b"3;\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"),  # empty extension name
        (b"3;a@b\r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"),  # not a token
        (b'3;a="b\r\nabc\r\n0\r\n\r\n', 400, "Invalid chunk extension"),  # unterminated quoted string
        (b"3\r\nabc\r\n0\r\nNoColon\r\n\r\n", 400, "Malformed trailer line"),
        (b"3\r\nabc\r\n0\r\nBad Name: 1\r\n\r\n", 400, "Malformed trailer line"),
        (b"3\r\nabc\r\n0\r\nT: a\x00b\r\n\r\n", 400, "Invalid character in trailer value"),
        (b"3\r\nabc\r\n0\r\nT: 1\r\n folded\r\n\r\n", 400, "Folded trailer line"),
        (b"0\r\n" + b"T: 1\r\n" * 11 + b"\r\n", 431, "Too many trailer fields"),  # more than max_headers (10)
        (b"0\r\nT: " + b"v" * 300 + b"\r\n\r\n", 431, "Trailer fields too large"),  # over max_head_size (256)
        (b"0\r\nT: " + b"v" * 300, 431, "Trailer fields too large"),  # ... also before its line ends
        (b"0" * 1100, 400, "Line too long"),  # a chunk-size line may not grow without end
    ],
)
def test_chunked_framing_is_strict(body, status, detail):
    """Chunked framing exactly as RFC 9112 §7.1 (what llhttp refuses): each bad input's status and message."""
    with pytest.raises(ProtocolError) as info:
        parse(CHUNKED + body, max_headers=10, max_head_size=256)
    assert (info.value.status, info.value.detail) == (status, detail)


@pytest.mark.parametrize(
    "body",
    [
        b"0000000000000000000000000000000003\r\nabc\r\n0\r\n\r\n",  # leading zeros are still one hex number
        b"3;a=b;c\r\nabc\r\n0;x\r\n\r\n",  # extensions with and without a value
        b'3;a="b c\\" ;d"\r\nabc\r\n0\r\n\r\n',  # a quoted-string value with a quoted-pair
        b"3\r\nabc\r\n0\r\nT: 1\r\nU: 2\r\n\r\n",  # trailers (discarded)
        b"3\r\nabc\r\n000\r\n\r\n",  # a last chunk written with zeros
    ],
)
def test_valid_chunked_framing_is_accepted(body):
    """Valid chunked framing is de-chunked: leading zeros, extensions, quoted strings and trailers."""
    events = parse(CHUNKED + body)
    assert b"".join(e for e in events if isinstance(e, bytes)) == b"abc"
    assert events[-1] is END


def test_trailer_limits_are_the_head_limits():
    """Exactly max_headers trailer lines within max_head_size are accepted (the 431s above are one past)."""
    events = parse(CHUNKED + b"0\r\n" + b"T: 1\r\n" * 10 + b"\r\n", max_headers=10, max_head_size=256)
    assert events[-1] is END


def test_bare_lf_in_the_head_is_refused():
    """A request head line ending in a bare LF gets 400 (llhttp does the same; a CRLF-only proxy would differ)."""
    for raw in (
        b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ):
        with pytest.raises(ProtocolError) as info:
            parse(raw)
        assert (info.value.status, info.value.detail) == (400, "Line ending without CR")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "Missing Host header"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Multiple Host headers"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "Multiple Host headers"),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "Multiple Host headers"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "Invalid Host header"),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "Invalid Host header"),
        (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "Invalid Host header"),
        (b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", "Invalid Host header"),
        (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "Invalid Host header"),
        (b"GET / HTTP/1.0\r\nHost: a\xffb\r\n\r\n", "Invalid Host header"),
        (b"GET http://u@x/p HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid request target"),
        (b"GET ftp://x/p HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid request target"),
        (b"GET http:///p HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid request target"),
    ],
)
def test_bad_host_is_400(raw, detail):
    """RFC 9112 §3.2: a missing (HTTP/1.1), repeated or invalid Host, or a bad absolute target, gets 400."""
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert (info.value.status, info.value.detail) == (400, detail)


@pytest.mark.parametrize(
    "host",
    [b"example.com", b"example.com:8080", b"127.0.0.1:80", b"[::1]:8000", b"[2001:db8::1]", b"", b"xn--bcher-kva.de"],
)
def test_valid_host_values(host):
    """Names, IPv4, IPv6 literals, ports and the empty value (RFC 9110 §7.2) are valid Host values."""
    assert parse(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")[0].header(b"host") == host


def test_http10_needs_no_host():
    """An HTTP/1.0 request without Host is served (only HTTP/1.1 requires it)."""
    assert parse(b"GET / HTTP/1.0\r\n\r\n")[0].http_version == "1.0"


@pytest.mark.parametrize(
    ("target", "path", "host"),
    [
        (b"http://x/p", b"/p", b"x"),
        (b"HTTP://Example.com:8080/a/b?q=1", b"/a/b?q=1", b"Example.com:8080"),
        (b"https://x", b"/", b"x"),
        (b"http://x?q=1", b"/?q=1", b"x"),
    ],
)
def test_absolute_form_becomes_origin_form(target, path, host):
    """An absolute-form target gives the origin-form path, and its authority replaces Host (RFC 9112 §3.2.2)."""
    head = parse(b"GET " + target + b" HTTP/1.1\r\nHost: other\r\nA: 1\r\n\r\n")[0]
    assert head.target == path
    assert head.headers == [(b"host", host), (b"a", b"1")]


@pytest.mark.parametrize(
    ("version", "served"), [(b"HTTP/1.0", "1.0"), (b"HTTP/1.1", "1.1"), (b"HTTP/1.2", "1.1"), (b"HTTP/1.9", "1.1")]
)
def test_later_http1_minor_versions_are_served_as_11(version, served):
    """HTTP/1.x with x > 1 is served as HTTP/1.1 (RFC 9110 §2.5), not refused."""
    assert parse(b"GET / " + version + b"\r\nHost: x\r\n\r\n")[0].http_version == served


@pytest.mark.parametrize(
    ("version", "status", "detail"),
    [
        (b"HTTP/2.0", 505, "HTTP Version Not Supported"),
        (b"HTTP/9.9", 505, "HTTP Version Not Supported"),
        (b"HTTP/0.9", 505, "HTTP Version Not Supported"),
        (b"HTTP/1.10", 400, "Malformed request line"),
        (b"HTTP/1", 400, "Malformed request line"),
        (b"http/1.1", 400, "Malformed request line"),
    ],
)
def test_unsupported_or_garbage_versions(version, status, detail):
    """Another major version gets 505; anything not HTTP/d.d is a malformed request line (400)."""
    with pytest.raises(ProtocolError) as info:
        parse(b"GET / " + version + b"\r\nHost: x\r\n\r\n")
    assert (info.value.status, info.value.detail) == (status, detail)


# -- linear cost -------------------------------------------------------------------------------


def _cpu(run) -> float:
    """The least CPU time of a few runs of ``run()`` (the least is the one least disturbed)."""
    import time

    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def _tiny_chunks(count: int) -> None:
    parser = RequestParser()
    events = parser.feed(CHUNKED + b"1\r\nx\r\n" * count + b"0\r\n\r\n")
    assert events[-1] is END and events[1] == b"x" * count


def _trickled_head(size: int) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * (size - 40) + b"\r\n\r\n"
    parser = RequestParser(max_head_size=size + 100)
    events: list = []
    for index in range(0, len(head), 8):
        events.extend(parser.feed(head[index : index + 8]))
    assert isinstance(events[0], RequestHead)


def test_cost_of_tiny_chunks_grows_linearly():
    """A body of N one-byte chunks fed at once costs about twice at 2N (a ratio under 3, not quadratic)."""
    small = _cpu(lambda: _tiny_chunks(20000))
    large = _cpu(lambda: _tiny_chunks(40000))
    assert large / small < 3, (small, large)


def test_cost_of_a_trickled_head_grows_linearly():
    """A head arriving in 8-byte segments is scanned once: 2x its size costs under 3x the CPU."""
    small = _cpu(lambda: _trickled_head(15 * 1024))
    large = _cpu(lambda: _trickled_head(30 * 1024))
    assert large / small < 3, (small, large)


def test_body_pieces_of_one_feed_are_one_event():
    """The data of many chunks in one feed is handed on as one body event, not one per chunk."""
    events = parse(CHUNKED + b"2\r\nab\r\n2\r\ncd\r\n1\r\ne\r\n0\r\n\r\n")
    assert events[1:] == [b"abcde", END]


def test_consumed_buffer_is_released():
    """Once a request is consumed the parser holds no buffer (an idle keep-alive socket keeps no bytes)."""
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"a" * 5000)
    assert parser.buffered_size == 0 and parser._buffer is RequestParser()._buffer  # the shared empty one
    other = RequestParser()  # idle parsers share one empty buffer, which feeding never writes into
    other.feed(b"GET / HTTP/1.1\r\nHo")
    assert parser._buffer == bytearray() and other.buffered == b"GET / HTTP/1.1\r\nHo"


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\nA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"A: 1\r\n" * 11 + b"\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nA: " + b"v" * 300 + b"\r\n\r\n",
        b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/3.0\r\nHost: x\r\n\r\n",
    ],
)
def test_whole_and_trickled_heads_get_the_same_answer(raw):
    """A head that arrives whole (one search) and one trickled byte by byte (line scan) get the same answer."""

    def answer(pieces):
        parser = RequestParser(max_head_size=256, max_headers=10)
        try:
            for piece in pieces:
                events = parser.feed(piece)
                if events:
                    return ("head", events[0].target, events[0].headers)
        except ProtocolError as exc:
            return (exc.status, exc.detail)
        return "incomplete"

    assert answer([raw]) == answer([raw[i : i + 1] for i in range(len(raw))])


def test_as_strict_as_llhttp():
    """Every input of bench/parser_compare.py that httptools (llhttp) refuses and RFC 9112 refuses, our parser
    refuses too, and each gets the RFC's answer from ours (HTTP/1.2, which llhttp refuses, is served as 1.1)."""
    httptools = pytest.importorskip("httptools")
    from bench.parser_compare import STRICTNESS, llhttp, ours

    assert httptools.HttpRequestParser
    for label, raw, expected in STRICTNESS:
        theirs, mine = llhttp(raw), ours(raw)
        if theirs.startswith("400") and expected != "ok":
            assert mine[:3] in ("400", "431", "505"), (label, mine, theirs)
        assert mine.split()[0] == expected, (label, mine)


def test_body_feeds_are_handed_on_without_copying():
    """With a Content-Length, a feed that is all body comes out as the very same bytes object (no copy)."""
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
    piece = b"abcdef"
    assert parser.feed(piece)[0] is piece
    assert parser.feed(b"ghijGET") == [b"ghij", END]
    assert parser.buffered == b"GET"

"""Response heads, chunk framing, error pages, and the access-log line format."""

from __future__ import annotations

import datetime

from interfaceserver.accesslog import format_entry
from interfaceserver.responses import chunk, error_page, response_head


def test_complete_response_gets_content_length():
    """A one-message response without Content-Length gets one, plus Server: Daphne and Date."""
    head, chunked, keep = response_head("1.1", 200, [(b"Content-Type", b"text/plain")], body_length=5, keep_alive=True)
    assert head.startswith(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nServer: Daphne\r\nDate: "
    )
    assert not chunked and keep


def test_streamed_response_is_chunked_on_11_and_closes_on_10():
    """Without a known length HTTP/1.1 uses chunked framing; HTTP/1.0 ends the connection instead."""
    head, chunked, keep = response_head("1.1", 200, [], body_length=None, keep_alive=True)
    assert b"Transfer-Encoding: chunked" in head and chunked and keep
    head, chunked, keep = response_head("1.0", 200, [], body_length=None, keep_alive=True)
    assert not chunked and not keep and b"Connection" not in head


def test_application_framing_headers_are_replaced():
    """The application's Transfer-Encoding/Connection headers are dropped; its Content-Length is kept."""
    head, chunked, _ = response_head(
        "1.1",
        200,
        [(b"Transfer-Encoding", b"gzip"), (b"Content-Length", b"3"), (b"Connection", b"keep-alive")],
        body_length=None,
        keep_alive=False,
    )
    assert b"gzip" not in head and b"Content-Length: 3" in head and b"Connection: close" in head and not chunked


def test_twisted_header_names_grouping_and_connection_first():
    """As Twisted wrote them for Daphne: Connection first, canonical name case, repeats grouped at the first."""
    head, _, _ = response_head(
        "1.1",
        200,
        [(b"x-request-id", b"1"), (b"content-type", b"t"), (b"X-REQUEST-ID", b"2"), (b"etag", b"e")],
        body_length=0,
        keep_alive=False,
    )
    lines = head.split(b"\r\n")
    assert lines[1:6] == [b"Connection: close", b"X-Request-Id: 1", b"X-Request-Id: 2", b"Content-Type: t", b"ETag: e"]


def test_twisted_reason_phrases():
    """Reason phrases are Twisted's table (Daphne ignored status_text), unknown codes 'Unknown Status'."""
    assert response_head("1.1", 418, [], body_length=0, keep_alive=True)[0].startswith(b"HTTP/1.1 418 I'm a teapot\r\n")
    assert response_head("1.1", 504, [], body_length=0, keep_alive=True)[0].startswith(b"HTTP/1.1 504 Gateway Time-out")
    assert response_head("1.1", 422, [], body_length=0, keep_alive=True)[0].startswith(b"HTTP/1.1 422 Unknown Status")


def test_no_body_statuses_and_unknown_reason():
    """204/304 get no framing headers; an unregistered status gets a generic reason phrase."""
    head, _, _ = response_head("1.1", 204, [], body_length=0, keep_alive=True)
    assert b"Content-Length" not in head
    head, _, _ = response_head("1.1", 599, [], body_length=0, keep_alive=True)
    assert head.startswith(b"HTTP/1.1 599 Unknown Status\r\n")


def test_chunk_and_error_page():
    """Chunks are hex-length framed (empty data writes nothing); error pages are complete responses."""
    assert chunk(b"hello") == b"5\r\nhello\r\n" and chunk(b"") == b""
    page = error_page(503, "Request queue full.", extra_headers=[(b"Retry-After", b"1")])
    assert page.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 1\r\n" in page and b"Connection: close" in page and page.endswith(b"</html>")
    assert b"<p>Request queue full.</p>" in page


def test_error_page_body_is_the_shared_page_with_daphne_footer():
    """The server's error body is errorpage.error_html with Twisted's phrase, the detail escaped, footer "Daphne"."""
    page = error_page(408, "Too <slow>")
    head, body = page.split(b"\r\n\r\n", 1)
    assert body == (
        b"<html><head><title>408 Request Time-out</title></head><body><h1>408 Request Time-out</h1>"
        b"<p>Too &lt;slow&gt;</p><footer>Daphne</footer></body></html>"
    )
    assert b"Content-Length: %d\r\n" % len(body) in head


def test_access_log_line():
    """Daphne's NCSA-like format: client ip:port, two dashes, date, request, status, size."""
    when = datetime.datetime(2026, 11, 21, 9, 55, 45)
    assert (
        format_entry(["127.0.0.1", 38222], "GET /", 200, 5, when)
        == '127.0.0.1:38222 - - [21/Nov/2026:09:55:45] "GET /" 200 5\n'
    )
    assert format_entry(None, "WSCONNECT /ws", when=when) == 'None - - [21/Nov/2026:09:55:45] "WSCONNECT /ws" - -\n'


def test_header_names_canonical_as_twisted_and_repeats_grouped():
    """Names get Twisted's capitalisation (as Daphne sent them) and a repeated name is grouped under its first use."""
    head, _, _ = response_head(
        "1.1",
        200,
        [
            (b"content-md5", b"a"),
            (b"x-frame-options", b"DENY"),
            (b"SET-COOKIE", b"a=1"),
            (b"www-authenticate", b"x"),
            (b"Set-Cookie", b"b=2"),
            (b"etag", b"e"),
        ],
        body_length=0,
        keep_alive=True,
    )
    lines = head.split(b"\r\n")[1:-2]
    assert lines[:6] == [
        b"Content-MD5: a",
        b"X-Frame-Options: DENY",
        b"Set-Cookie: a=1",
        b"Set-Cookie: b=2",
        b"WWW-Authenticate: x",
        b"ETag: e",
    ]


def test_date_header_is_current():
    """The Date header (formatted at most once a second) is today's HTTP date."""
    head, _, _ = response_head("1.1", 200, [], body_length=0, keep_alive=True)
    date = next(line for line in head.split(b"\r\n") if line.startswith(b"Date: "))[6:].decode()
    sent = datetime.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - sent).total_seconds()) < 3

"""Bad input against the real ``daphne`` script: each gets its status or close code, and the server keeps serving."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.integration.is_support import (
    Daphne,
    close_code_of,
    masked_frame,
    raw_exchange,
    raw_websocket,
    read_all,
    start_worker,
    status_of,
)

pytestmark = pytest.mark.redis

CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.fixture(scope="module")
def daphne(redis_url):
    worker = start_worker(redis_url)
    server = Daphne(
        redis_url,
        "--max-request-body",
        "100000",
        "--max-header-size",
        "4096",
        "--max-headers",
        "20",
        "--max-ws-message",
        "65536",
        "--header-timeout",
        "1",
    )
    yield server
    server.stop()
    worker.stop()


def still_serving(daphne):
    response = requests.get(daphne.url + "/", timeout=10)
    return response.status_code == 200 and response.text == "hello"


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"GARBAGE\r\n\r\n", 400, b"Malformed request line"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400, b"Malformed request line"),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, b"HTTP Version Not Supported"),
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, b"Malformed header line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", 400, b"Malformed header line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n", 400, b"Folded header line"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
            b"Both Content-Length and Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
            b"Conflicting Content-Length headers",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, b"Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, b"Unsupported Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, b"Invalid chunk size"),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"Invalid characters in path"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n", 431, b"Request Header Fields Too Large"),
        (
            b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(25)) + b"\r\n",
            431,
            b"Too many request headers",
        ),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, b"URI Too Long"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n",
            413,
            b"Request body larger than 100000 bytes",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
            b"Missing or invalid Sec-WebSocket-Key",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            426,
            b"Unsupported WebSocket version",
        ),
        (CHUNKED + b"3\nabc\r\n0\r\n\r\n", 400, b"Line ending without CR"),
        (CHUNKED + b"3;a=b\nabc\r\n0\r\n\r\n", 400, b"Line ending without CR"),
        (CHUNKED + b"3\r\nabc\n0\r\n\r\n", 400, b"Missing CRLF after chunk data"),
        (CHUNKED + b" 3 \r\nabc\r\n0\r\n\r\n", 400, b"Invalid chunk size"),
        (CHUNKED + b"3;a=\x00\r\nabc\r\n0\r\n\r\n", 400, b"Invalid chunk extension"),
        (CHUNKED + b"3\r\nabc\r\n0\r\nNoColon\r\n\r\n", 400, b"Malformed trailer line"),
        (CHUNKED + b"3\r\nabc\r\n0\r\n" + b"T: 1\r\n" * 25 + b"\r\n", 431, b"Too many trailer fields"),
        (CHUNKED + b"1" + b"0" * 16 + b"\r\n", 400, b"Chunk size overflow"),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400, b"Missing Host header"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, b"Multiple Host headers"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, b"Invalid Host header"),
    ],
    ids=[
        "request-line",
        "request-line-parts",
        "version",
        "header-colon",
        "header-name",
        "folded",
        "cl-and-te",
        "two-cl",
        "bad-cl",
        "te-gzip",
        "chunk-size",
        "non-ascii-path",
        "big-header",
        "many-headers",
        "long-uri",
        "big-body",
        "ws-no-key",
        "ws-version",
        "chunk-size-lf",
        "chunk-ext-lf",
        "chunk-data-lf",
        "chunk-size-ws",
        "chunk-ext-nul",
        "trailer-colon",
        "many-trailers",
        "chunk-overflow",
        "no-host",
        "two-hosts",
        "bad-host",
    ],
)
def test_bad_request_gets_status(daphne, request_bytes, status, reason):
    """Each malformed or oversize request gets its specific status and the server keeps serving."""
    response = raw_exchange(daphne.port, request_bytes)
    assert status_of(response) == status
    assert reason in response
    if status == 426:
        assert b"sec-websocket-version: 13\r\n" in response.lower()
    assert still_serving(daphne)


@pytest.mark.parametrize(
    ("request_bytes", "path"),
    [
        (b"GET http://example.com/echo?q=1 HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n", "/echo"),
        (b"GET /echo?q=1 HTTP/1.2\r\nHost: example.com\r\nConnection: close\r\n\r\n", "/echo"),
        (CHUNKED.replace(b"POST /", b"POST /echo?q=1") + b"00000000000003\r\nabc\r\n0\r\nT: 1\r\n\r\n", "/echo"),
    ],
    ids=["absolute-form", "http-1.2", "leading-zeros-and-trailer"],
)
def test_edge_requests_are_served(daphne, request_bytes, path):
    """Absolute-form targets reach the worker in origin form with the target's host; HTTP/1.2 is served as 1.1."""
    import json

    response = raw_exchange(daphne.port, request_bytes)
    assert status_of(response) == 200, response
    body = response.partition(b"\r\n\r\n")[2]
    if b"Transfer-Encoding: chunked" in response:
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    request = json.loads(body)
    assert request["path"] == path and request["query_string"] == "q=1"
    assert request["http_version"] == "1.1"
    assert dict(request["headers"])["host"] == ("x" if request["method"] == "POST" else "example.com")
    if request["method"] == "POST":
        assert request["body_prefix"] == "abc"


def test_oversize_chunked_body_gets_413(daphne):
    """A chunked body that grows past --max-request-body is cut off with 413."""
    chunk = b"%x\r\n" % 60000 + b"a" * 60000 + b"\r\n"
    response = raw_exchange(
        daphne.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2
    )
    assert status_of(response) == 413
    assert still_serving(daphne)


def test_slow_headers_get_408(daphne):
    """A request head that does not complete within --header-timeout gets 408."""
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        response = read_all(sock, 10)
    assert status_of(response) == 408
    assert time.monotonic() - started < 4
    assert still_serving(daphne)


def test_idle_connection_closed_quietly(daphne):
    """A connection that sends nothing is closed after --header-timeout without a response."""
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=10) as sock:
        assert read_all(sock, 10) == b""


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes([0x81, 0x02]) + b"hi", 1002),  # unmasked
        (masked_frame(0x1, b"hi", rsv=0x40), 1002),  # reserved bit
        (masked_frame(0x3, b"hi"), 1002),  # reserved opcode
        (masked_frame(0x9, b"x", fin=False), 1002),  # fragmented control frame
        (masked_frame(0x0, b"orphan"), 1002),  # continuation without a message
        (masked_frame(0x8, b"\x03\xed"), 1002),  # close code 1005 may not be sent
        (masked_frame(0x1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (masked_frame(0x2, b"x" * 70000), 1009),  # over --max-ws-message
        (masked_frame(0x2, b"x" * 40000, fin=False) + masked_frame(0x0, b"x" * 40000), 1009),
    ],
    ids=[
        "unmasked",
        "rsv",
        "opcode",
        "fragmented-ping",
        "orphan-continuation",
        "close-1005",
        "utf8",
        "too-big",
        "too-big-fragmented",
    ],
)
def test_bad_websocket_frame_gets_close_code(daphne, frame, code):
    """Each protocol violation closes the socket with its code, and other sockets still work."""
    sock = raw_websocket(daphne.port)
    sock.sendall(frame)
    assert close_code_of(sock) == code
    sock.close()
    assert still_serving(daphne)

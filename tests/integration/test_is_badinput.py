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


@pytest.fixture(scope="module")
def redis_url(redis_server):
    return f"redis://127.0.0.1:{redis_server.port}/5"


@pytest.fixture(scope="module")
def daphne(redis_url):
    worker = start_worker(redis_url)
    server = Daphne(redis_url, "--max-request-body", "100000", "--max-header-size", "4096", "--max-headers", "20",
                    "--max-ws-message", "65536", "--header-timeout", "1")
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
        (b"GET / HTTP/3.0\r\n\r\n", 505, b"HTTP Version Not Supported"),
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, b"Malformed header line"),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400, b"Malformed header line"),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400, b"Folded header line"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400,
         b"Both Content-Length and Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
         b"Conflicting Content-Length headers"),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, b"Invalid Content-Length"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, b"Unsupported Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, b"Invalid chunk size"),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"Invalid characters in path"),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n", 431, b"Request Header Fields Too Large"),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(25)) + b"\r\n", 431,
         b"Too many request headers"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, b"URI Too Long"),
        (b"POST / HTTP/1.1\r\nContent-Length: 100001\r\n\r\n", 413, b"Request body larger than 100000 bytes"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400,
         b"Missing or invalid Sec-WebSocket-Key"),
        (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 426, b"Unsupported WebSocket version"),
    ],
    ids=["request-line", "request-line-parts", "version", "header-colon", "header-name", "folded", "cl-and-te",
         "two-cl", "bad-cl", "te-gzip", "chunk-size", "non-ascii-path", "big-header", "many-headers", "long-uri",
         "big-body", "ws-no-key", "ws-version"],
)
def test_bad_request_gets_status(daphne, request_bytes, status, reason):
    """Each malformed or oversize request gets its specific status and the server keeps serving."""
    response = raw_exchange(daphne.port, request_bytes)
    assert status_of(response) == status
    assert reason in response
    if status == 426:
        assert b"sec-websocket-version: 13\r\n" in response.lower()
    assert still_serving(daphne)


def test_oversize_chunked_body_gets_413(daphne):
    """A chunked body that grows past --max-request-body is cut off with 413."""
    chunk = b"%x\r\n" % 60000 + b"a" * 60000 + b"\r\n"
    response = raw_exchange(daphne.port, b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2)
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
    ids=["unmasked", "rsv", "opcode", "fragmented-ping", "orphan-continuation", "close-1005", "utf8", "too-big",
         "too-big-fragmented"],
)
def test_bad_websocket_frame_gets_close_code(daphne, frame, code):
    """Each protocol violation closes the socket with its code, and other sockets still work."""
    sock = raw_websocket(daphne.port)
    sock.sendall(frame)
    assert close_code_of(sock) == code
    sock.close()
    assert still_serving(daphne)

"""Flow control on the reply path, end to end: real daphne, real runworker processes, real Redis.

A streamed response to a client that stops reading is paused through the layer (the flow key), so
the worker waits instead of pushing the rest into the server's memory, and the client, once it reads
again, gets every byte; other clients of the same interface server keep being served meanwhile.
"""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.e2e.stack import Stack

pytestmark = [pytest.mark.redis, pytest.mark.slow]

MIB = 1024 * 1024


@pytest.fixture()
def stack(redis_db):
    s = Stack.on(redis_db, prefix="e2e-flow:")
    try:
        s.worker("stream-worker", "--only-channels", "http.*")
        s.worker("other-worker", "--only-channels", "http.*")
        s.server()
        s.wait_ready()
        yield s
    finally:
        s.stop()


def read_exactly(sock: socket.socket, size: int) -> int:
    got = 0
    while got < size:
        piece = sock.recv(min(1 << 20, size - got))
        if not piece:
            break
        got += len(piece)
    return got


def test_paused_client_pauses_the_stream_and_gets_every_byte(stack, redis_db):
    """A client that stops reading mid-stream is not dropped, the worker waits, and every byte arrives later."""
    total = 48  # MiB: three times the server's default write-buffer limit of 16 MiB
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.sendall(f"GET /stream/mb/?mb={total} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200")
    client = redis_db.client()
    flow_keys: list[bytes] = []
    deadline = time.monotonic() + 10
    while not flow_keys and time.monotonic() < deadline:  # the client reads nothing: the server pauses the stream
        flow_keys = list(client.scan_iter(match="e2e-flow::flow:*"))
        time.sleep(0.05)
    assert flow_keys, "the interface server never paused the stream"
    time.sleep(1.0)  # paused for a while: others are still served, and the stream does not move on
    probe_started = time.monotonic()
    assert requests.get(stack.url + "/hello/", timeout=10).status_code == 200
    probe_seconds = time.monotonic() - probe_started
    assert probe_seconds < 2.0
    lists = [key for key in client.scan_iter(match="e2e-flow:daphne.response*") if client.type(key) == b"list"]
    assert all(client.llen(key) <= 4 for key in lists), "the stream ran past its window"
    # Chunked framing adds a few bytes per part; read the body through to the last chunk.
    body = 0
    tail = b""
    sock.settimeout(30)
    while not tail.endswith(b"0\r\n\r\n"):
        piece = sock.recv(1 << 20)
        assert piece, "the server closed the paused client's connection"
        body += len(piece)
        tail = (tail + piece)[-5:]
    assert body >= total * MIB
    sock.close()
    assert not list(client.scan_iter(match="e2e-flow::flow:*")), "the flow key outlived the response"
    server_log = stack.processes[-1].log()
    assert "reads too slowly" not in server_log

"""Keep-alive requests do not stall: TCP_NODELAY on every TCP endpoint, one write per small reply.

A response whose head and body leave in two segments on a socket with Nagle's algorithm on waits
for the client's delayed ACK (~40 ms on Linux) before the second segment goes: a keep-alive client
then sees ~44 ms per request instead of ~1 ms. These tests pin the socket option and time a run of
sequential requests over one connection on every path a user takes (plain TCP, TLS, ``--fd``, the
WSGI adapter under gunicorn, ``runserver``). The bound is the stall itself (40 ms): the normal figure
is ~1 ms, so a noisy machine does not make the median cross it, and a regression always does.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from interfaceserver.connection import set_no_delay
from tests.integration.is_support import Daphne
from tests.support.processes import redis_servers
from tests.support.tls import make_self_signed

STALL = 0.040
ROUNDS = 30


def _response_end(pending: bytearray) -> int | None:
    """Where the first response in ``pending`` ends, or None while it is incomplete."""
    head_end = pending.find(b"\r\n\r\n") + 4
    if head_end < 4:
        return None
    head = bytes(pending[:head_end]).lower()
    if b"content-length:" in head:
        length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return head_end + length if len(pending) >= head_end + length else None
    # chunked: the small test bodies never contain the last-chunk marker themselves
    last = pending.find(b"0\r\n\r\n", head_end)
    return last + 5 if last >= 0 else None


def read_response(sock: Any, pending: bytearray) -> bytes:
    """Read one Content-Length-framed or chunked response from ``sock``; surplus bytes stay in ``pending``."""
    while (end := _response_end(pending)) is None:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("server closed the keep-alive connection")
        pending += piece
    response = bytes(pending[:end])
    del pending[:end]
    return response


def keepalive_times(sock: Any, path: str = "/", rounds: int = ROUNDS) -> list[float]:
    """Seconds taken by each of ``rounds`` sequential GETs over the one connection ``sock``."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    pending = bytearray()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        sock.sendall(request)
        response = read_response(sock, pending)
        times.append(time.perf_counter() - started)
        assert response.startswith(b"HTTP/1.1 200"), response[:200]
    return times


def assert_no_stall(times: list[float]) -> None:
    # The first request may include connection set-up; the stall hits every request after it.
    later = times[1:]
    assert statistics.median(later) < STALL, f"keep-alive requests stall: {[round(t * 1000, 1) for t in later]} ms"


# -- the socket option -------------------------------------------------------------------------


class _Handle:
    """The part of a Twisted transport that set_no_delay looks at."""

    def __init__(self, sock: socket.socket | None, inner: Any = None) -> None:
        self.sock = sock
        self.transport = inner

    def getHandle(self) -> Any:
        return self.sock


def test_no_delay_set_on_tcp_socket():
    """set_no_delay turns TCP_NODELAY on for an IPv4 socket and reports it did."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert set_no_delay(_Handle(sock)) is True
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_no_delay_reaches_tcp_under_tls_wrapper():
    """Under TLS the wrapper's handle is not a socket; the TCP transport beneath it gets the option."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        wrapper = _Handle(object(), inner=_Handle(sock))  # TLSMemoryBIOProtocol: handle is an OpenSSL object
        assert set_no_delay(wrapper) is True
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_no_delay_leaves_unix_socket_alone():
    """A UNIX socket has no TCP_NODELAY; set_no_delay returns False instead of raising."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        assert set_no_delay(_Handle(sock)) is False


# -- real servers --------------------------------------------------------------------------------


@pytest.mark.redis
def test_plain_tcp_keepalive_does_not_stall(redis_url, worker):
    """Sequential keep-alive GETs over plain TCP take far less than the 40 ms delayed-ACK stall."""
    server = Daphne(redis_url)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            assert_no_stall(keepalive_times(sock))
    finally:
        server.stop()


@pytest.mark.redis
def test_streamed_keepalive_does_not_stall(redis_url, worker):
    """A chunked reply (head, chunks and last chunk in separate messages) does not stall either."""
    server = Daphne(redis_url)
    request = b"GET /stream?n=2&delay=0 HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            times = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                sock.sendall(request)
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    piece = sock.recv(65536)
                    assert piece, "server closed the keep-alive connection"
                    data += piece
                times.append(time.perf_counter() - started)
            assert_no_stall(times)
    finally:
        server.stop()


@pytest.mark.redis
def test_tls_keepalive_does_not_stall(redis_url, worker):
    """Over a TLS endpoint string the TCP socket under the TLS layer has Nagle off too."""
    key, cert = make_self_signed(Path(tempfile.mkdtemp()))
    server = Daphne(
        redis_url, listen=lambda port: ["-e", f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"]
    )
    port = server.port
    try:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                assert_no_stall(keepalive_times(sock))
    finally:
        server.stop()


@pytest.mark.redis
def test_inherited_fd_keepalive_does_not_stall(redis_url, worker):
    """A socket inherited with --fd (supervisord, systemd) gets TCP_NODELAY on each accepted connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    address = listener.getsockname()
    server = Daphne(redis_url, "--fd", str(listener.fileno()), listen=None, pass_fds=(listener.fileno(),))
    try:
        listener.close()
        with socket.create_connection(address, timeout=10) as sock:
            assert_no_stall(keepalive_times(sock))
    finally:
        server.stop()


@pytest.mark.redis
def test_wsgi_adapter_under_gunicorn_keepalive_does_not_stall():
    """The WsgiToAsgiAdapter under gunicorn's keep-alive gthread worker does not stall between requests."""
    from tests.integration.test_wsgi_gunicorn import start_stack, stop_stack

    with redis_servers(1) as servers:
        stack = start_stack(servers[0])
        try:
            port = int(stack.url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                assert_no_stall(keepalive_times(sock, "/hello"))
        finally:
            stop_stack(stack)


def test_runserver_keepalive_does_not_stall(tmp_path):
    """``manage.py runserver`` (interface server and worker threads in one process) does not stall either."""
    from tests.integration.test_runserver import start_runserver

    process, port = start_runserver(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert_no_stall(keepalive_times(sock, "/echo/"))
    finally:
        process.stop()

"""The real ``daphne`` script serving HTTP from a real Redis layer and the echo worker."""

from __future__ import annotations

import datetime
import json
import os
import socket
import tempfile
import time

import pytest
import requests

from tests.integration.is_support import Daphne, raw_exchange, read_all, status_of

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def daphne(redis_url, worker):
    server = Daphne(redis_url, "--root-path", "/root", "--proxy-headers")
    yield server
    server.stop()


def test_get_returns_worker_response(daphne):
    """A GET reaches the worker and its reply comes back with Daphne's Server header."""
    response = requests.get(daphne.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.text == "hello"
    assert response.headers["Server"] == "Daphne"
    assert response.headers["Content-Length"] == "5"


def test_post_message_matches_daphne(daphne):
    """The http.request message has Daphne 1.4.2's fields: unquoted path, raw query, cleaned headers, body."""
    response = requests.post(
        daphne.url + "/echo?q=%C2%A3&r=2",
        data=b"x=1&y=%C2%A3",
        headers={"X-Custom_Under": "1", "Cookie": "a=b", "Daphne-Root-Path": "/mounted%20here"},
        timeout=10,
    )
    info = response.json()
    assert info["method"] == "POST"
    assert info["path"] == "/echo"
    assert info["query_string"] == "q=%C2%A3&r=2"
    assert info["http_version"] == "1.1"
    assert info["scheme"] == "http"
    assert info["root_path"] == "/mounted here"
    names = [name for name, _ in info["headers"]]
    assert "cookie" in names and "x-custom_under" not in names and "daphne-root-path" not in names
    assert info["body_length"] == 12 and info["body_prefix"] == "x=1&y=%C2%A3"
    assert info["client"][0] == "127.0.0.1" and info["server"] == ["127.0.0.1", daphne.port]
    assert info["reply_channel"].startswith("daphne.response.") and "!" in info["reply_channel"]
    assert "body_channel" not in info


def test_root_path_option_and_proxy_headers(daphne):
    """--root-path is sent verbatim; X-Forwarded-For/Port/Proto from a trusted peer set client and scheme."""
    response = requests.get(
        daphne.url + "/echo/some%20path/",
        headers={"X-Forwarded-For": "10.1.2.3, 10.0.0.1", "X-Forwarded-Port": "4321", "X-Forwarded-Proto": "https"},
        timeout=10,
    )
    info = response.json()
    assert info["root_path"] == "/root"
    assert info["client"] == ["10.1.2.3", 4321]
    assert info["scheme"] == "https"


def test_large_body_streamed_over_body_channel(daphne):
    """A body above the threshold arrives through a body_channel, complete and in order."""
    body = bytes(i % 251 for i in range(2_500_000))
    response = requests.post(daphne.url + "/echo", data=body, timeout=30)
    info = response.json()
    assert info["body_channel"].startswith("http.request.body?")
    assert info["body_length"] == len(body)
    assert info["body_sum"] == sum(body) % 65536


def test_chunked_request_body(daphne):
    """A chunked request body is de-chunked before it reaches the worker."""
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    )
    response = raw_exchange(daphne.port, request)
    assert status_of(response) == 200
    info = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert info["body_length"] == 11 and info["body_prefix"] == "hello world"


def test_streaming_response(daphne):
    """more_content replies are written as they arrive, chunked."""
    response = requests.get(daphne.url + "/stream?n=4&delay=0.05", timeout=10, stream=True)
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text == "chunk0\nchunk1\nchunk2\nchunk3\n"


def test_three_megabyte_response(daphne):
    """A 3 MB response sent as several messages arrives byte for byte."""
    response = requests.get(daphne.url + "/big?size=3000000", timeout=30)
    assert len(response.content) == 3_000_000
    assert response.content == bytes(i % 251 for i in range(3_000_000))


def test_keep_alive_and_pipelining(daphne):
    """Two pipelined HTTP/1.1 requests on one connection are answered in order, then the socket stays open."""
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = read_all(sock)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"hello") < data.index(b"application/json")


def test_http10_closes_unless_keep_alive(daphne):
    """HTTP/1.0 closes after the response; with Connection: keep-alive it stays open for another request."""
    assert raw_exchange(daphne.port, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 OK")
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        time.sleep(0.5)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = read_all(sock)
    assert data.count(b"HTTP/1.0 200 OK") == 2
    assert b"Connection: keep-alive" in data


def test_access_log_format(daphne):
    """The access log has Daphne's NCSA-like lines for HTTP requests (raw target, status, body size)."""
    requests.get(daphne.url + "/?x=1", timeout=10)
    time.sleep(0.2)
    today = datetime.datetime.now().strftime("%d/%b/%Y")
    lines = [line for line in daphne.process.log().splitlines() if '"GET /?x=1" 200 5' in line]
    assert lines and lines[-1].startswith("127.0.0.1:") and f" - - [{today}:" in lines[-1]


def test_unix_socket(redis_url, worker):
    """-u serves on a UNIX socket; client and server are None there."""
    path = os.path.join(tempfile.mkdtemp(), "d.sock")
    server = Daphne(redis_url, "-u", path, listen=None)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(path)
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_all(sock, 10)
        info = json.loads(data.split(b"\r\n\r\n", 1)[1])
        assert info["client"] is None and info["server"] is None
    finally:
        server.stop()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_UNIX])
def test_inherited_file_descriptor(redis_url, worker, family):
    """--fd N serves on an inherited listening socket, TCP or UNIX (supervisord fcgi-program, systemd)."""
    listener = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        listener.bind(("127.0.0.1", 0))
        address = listener.getsockname()
    else:
        address = os.path.join(tempfile.mkdtemp(), "fd.sock")
        listener.bind(address)
    listener.listen(16)
    fd = listener.fileno()
    server = Daphne(redis_url, "--fd", str(fd), listen=None, pass_fds=(fd,))
    try:
        listener.close()
        with socket.socket(family) as sock:
            sock.settimeout(10)
            sock.connect(address)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_all(sock, 10)
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello")
    finally:
        server.stop()


def test_access_log_uses_forwarded_client(daphne):
    """With --proxy-headers from a trusted peer the access log names the forwarded client, as Daphne did."""
    requests.get(daphne.url + "/logged-via-proxy", headers={"X-Forwarded-For": "10.9.8.7"}, timeout=10)
    time.sleep(0.2)
    assert any(
        line.startswith("10.9.8.7:0 - - [") and '"GET /logged-via-proxy" 200' in line
        for line in daphne.process.log().splitlines()
    )


def test_port_in_use_exits_1(redis_url):
    """A port that cannot be bound ends the process with status 1 and a clear log line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = Daphne(redis_url, "-e", f"tcp:{port}:interface=127.0.0.1", listen=None)
        assert server.process.popen.wait(20) == 1
        assert "Could not listen" in server.process.log()


def test_concurrent_requests(daphne):
    """100 concurrent requests on separate connections are all answered correctly (batched sends)."""
    from concurrent.futures import ThreadPoolExecutor

    def fetch(i):
        return requests.get(f"{daphne.url}/echo?i={i}", timeout=30).json()["query_string"]

    with ThreadPoolExecutor(20) as pool:
        assert sorted(pool.map(fetch, range(100))) == sorted(f"i={i}" for i in range(100))


def test_keep_alive_after_streamed_body(daphne):
    """After a body streamed over body_channel, the same connection serves the next request."""
    with requests.Session() as session:
        body = b"z" * 1_200_000
        assert session.post(daphne.url + "/echo", data=body, timeout=30).json()["body_length"] == len(body)
        assert session.get(daphne.url + "/", timeout=10).text == "hello"

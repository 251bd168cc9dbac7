"""TLS endpoints (``-e ssl:...``) with HTTP/1.1, WebSocket and HTTP/2 (ALPN h2), with a certificate made in the test."""

from __future__ import annotations

import json
import socket
import ssl
import tempfile
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import requests
import urllib3
import websocket

from tests.integration.is_support import Daphne, start_worker
from tests.support.tls import make_self_signed

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def tls_server(redis_databases):
    with redis_databases.take() as database:
        worker = start_worker(database.url)
        key, cert = make_self_signed(Path(tempfile.mkdtemp()))
        server = Daphne(database.url, listen=lambda port: _tls(port, key, cert))
        yield server
        server.stop()
        worker.stop()


def _tls(port: int, key: Path, cert: Path) -> list[str]:
    """The endpoint option serving TLS on ``port`` with ``key`` and ``cert``."""
    return ["-e", f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"]


def test_https_sets_scheme(tls_server):
    """A request over TLS reports scheme https."""
    urllib3.disable_warnings()
    response = requests.get(f"https://127.0.0.1:{tls_server.port}/echo", verify=False, timeout=10)
    assert response.status_code == 200
    assert response.json()["scheme"] == "https" and response.json()["http_version"] == "1.1"


def test_wss_echo(tls_server):
    """WebSockets work over TLS."""
    ws = websocket.create_connection(
        f"wss://127.0.0.1:{tls_server.port}/ws/tls", sslopt={"cert_reqs": ssl.CERT_NONE}, timeout=10
    )
    ws.send("secure")
    assert ws.recv() == "secure"
    ws.close()


def test_http2_request(tls_server):
    """ALPN h2 gives an HTTP/2 stream that becomes an http.request with http_version "2"."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.selected_alpn_protocol() == "h2"
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            conn.send_headers(
                1,
                [(":method", "GET"), (":path", "/echo?h=2"), (":scheme", "https"), (":authority", "localhost")],
                end_stream=True,
            )
            sock.sendall(conn.data_to_send())
            status, body, ended = None, b"", False
            while not ended:
                data = sock.recv(65536)
                assert data, "connection closed before the response ended"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        body += event.data
                        conn.acknowledge_received_data(len(event.data), event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = True
                sock.sendall(conn.data_to_send())
    assert status == b"200"
    info = json.loads(body)
    assert info["http_version"] == "2" and info["scheme"] == "https" and info["query_string"] == "h=2"


def h2_request(port, headers, body=b""):
    """One HTTP/2 request over TLS with ALPN h2: returns (status, response body)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**24})
            conn.increment_flow_control_window(2**24)
            conn.send_headers(1, headers, end_stream=not body)
            sent = 0
            status, data, ended = None, b"", False
            while not ended:
                while sent < len(body) and conn.local_flow_control_window(1) > 0:
                    size = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size, len(body) - sent)
                    conn.send_data(1, body[sent : sent + size], end_stream=sent + size == len(body))
                    sent += size
                sock.sendall(conn.data_to_send())
                piece = sock.recv(65536)
                assert piece, "connection closed before the response ended"
                for event in conn.receive_data(piece):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = dict(event.headers)[b":status"]
                    elif isinstance(event, h2.events.DataReceived):
                        data += event.data
                        conn.acknowledge_received_data(len(event.data), event.stream_id)
                    elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                        ended = True
            return status, data


def test_http2_post_body_and_size_limit(tls_server):
    """An HTTP/2 POST body reaches the worker; one above the streaming threshold gets 413."""
    headers = [(":method", "POST"), (":path", "/echo"), (":scheme", "https"), (":authority", "localhost")]
    status, body = h2_request(tls_server.port, headers, b"a=1&b=2")
    assert status == b"200" and json.loads(body)["body_length"] == 7
    status, body = h2_request(tls_server.port, headers, b"x" * 600_000)
    assert status == b"413" and b"send it over HTTP/1.1" in body
    assert '"POST /echo" 413' in tls_server.process.log()


def test_http2_bodies_count_against_the_body_budget(redis_db):
    """HTTP/2 request bodies take from --max-buffered-body like HTTP/1.1 ones: past it, 503, and the budget is returned."""
    url = redis_db.url
    worker = start_worker(url)
    key, cert = make_self_signed(Path(tempfile.mkdtemp()))
    server = Daphne(url, "--max-buffered-body", "4000", listen=lambda port: _tls(port, key, cert))
    port = server.port
    try:
        headers = [(":method", "POST"), (":path", "/echo"), (":scheme", "https"), (":authority", "localhost")]
        status, body = h2_request(port, headers, b"y" * 10_000)
        assert status == b"503" and b"too many request bodies" in body
        status, body = h2_request(port, headers, b"z" * 3_000)  # fits: the refused one gave its bytes back
        assert status == b"200" and json.loads(body)["body_length"] == 3_000
    finally:
        server.stop()
        worker.stop()


def test_http2_stream_waiting_for_a_reply_gets_503_when_redis_goes():
    """An HTTP/2 stream awaiting its response is answered 503 as soon as the reply reader loses Redis."""
    import threading
    import time

    from tests.support.processes import RedisServer

    redis = RedisServer()
    url = f"redis://127.0.0.1:{redis.port}/0"
    worker = start_worker(url)
    key, cert = make_self_signed(Path(tempfile.mkdtemp()))
    server = Daphne(url, listen=lambda port: _tls(port, key, cert))
    port = server.port
    try:
        outcome: list = []
        headers = [(":method", "GET"), (":path", "/never"), (":scheme", "https"), (":authority", "localhost")]
        thread = threading.Thread(target=lambda: outcome.append(h2_request(port, headers)))
        thread.start()
        time.sleep(1.0)
        stopped = time.monotonic()
        redis.stop()
        thread.join(15)
        assert outcome and outcome[0][0] == b"503" and b"Channel layer unavailable" in outcome[0][1]
        assert time.monotonic() - stopped < 5
    finally:
        server.stop()
        worker.stop()
        redis.stop()

"""Timeouts, backpressure, the layer going away, and graceful stop, against the real ``daphne`` script."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
import requests
import websocket

from channellayer import get_channel_layer
from tests.integration.is_support import Daphne, close_code_of, env_for, masked_frame, raw_websocket, start_worker

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def in_thread(function):
    result = {}

    def run():
        try:
            result["value"] = function()
        except Exception as exc:  # surfaced by the assertion on result
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_http_timeout_and_streaming_regression(redis_db):
    """-t answers 503 for unanswered requests, and a streaming response outliving it breaks nothing after."""
    url = redis_db.url
    worker = start_worker(url)
    server = Daphne(url, "-t", "2")
    try:
        started = time.monotonic()
        response = requests.get(server.url + "/never", timeout=10)
        assert response.status_code == 503
        assert "Worker server failed to respond within time limit." in response.text
        assert 1.5 < time.monotonic() - started < 5
        stream = requests.get(server.url + "/stream?n=6&delay=0.8", timeout=15)
        assert stream.status_code == 200
        assert stream.text == "".join(f"chunk{i}\n" for i in range(6))
        # Daphne 1.4.2 stopped enforcing every timeout after this; the next request must still get its 503.
        started = time.monotonic()
        assert requests.get(server.url + "/never", timeout=10).status_code == 503
        assert time.monotonic() - started < 5
    finally:
        server.stop()
        worker.stop()


def test_full_channels_give_503_and_1013(redis_db):
    """ChannelFull: 503 + Retry-After for http.request and websocket.connect, close 1013 for websocket.receive."""
    url = redis_db.url
    server = Daphne(url, "-t", "2", "--websocket_connect_timeout", "1", env=env_for(url, IS_CAPACITY="2"))
    try:
        waiting = [in_thread(lambda: requests.get(server.url + "/queued", timeout=10)) for _ in range(2)]
        time.sleep(0.5)
        started = time.monotonic()
        response = requests.get(server.url + "/third", timeout=10)
        assert response.status_code == 503 and "Request queue full." in response.text
        assert response.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 2  # well before the 2 s http timeout
        for thread, _ in waiting:
            thread.join(10)

        pending = [
            in_thread(lambda: websocket.create_connection(server.ws_url + "/ws/q", timeout=10)) for _ in range(2)
        ]
        time.sleep(0.5)
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            websocket.create_connection(server.ws_url + "/ws/third", timeout=10)
        assert info.value.status_code == 503
        for thread, _ in pending:
            thread.join(10)
        layer = get_channel_layer("redis", {"hosts": [url]})
        layer.flush()

        worker = start_worker(url)
        try:
            sock = raw_websocket(server.port, "/ws/full")
            os.kill(worker.pid, signal.SIGSTOP)
            sock.sendall(b"".join(masked_frame(0x1, b"frame %d" % i) for i in range(4)))
            assert close_code_of(sock) == 1013
            sock.close()
        finally:
            os.kill(worker.pid, signal.SIGCONT)
            worker.stop()
    finally:
        server.stop()


def test_layer_down_gives_fast_503_then_recovers(own_redis):
    """With Redis stopped new requests get a fast 503; when it is back the same process serves again."""
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    worker = start_worker(url)
    server = Daphne(url)
    try:
        assert requests.get(server.url + "/", timeout=10).text == "hello"
        own_redis.stop()
        started = time.monotonic()
        response = requests.get(server.url + "/", timeout=10)
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert time.monotonic() - started < 5  # not the 120 s http timeout
        own_redis.start()
        deadline = time.monotonic() + 20
        while True:
            response = requests.get(server.url + "/", timeout=10)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == 200 and response.text == "hello"
        assert server.process.alive()
        assert "Channel layer is reachable again" in server.process.log()
    finally:
        server.stop()
        worker.stop()


def test_sigterm_drains_gracefully(redis_db):
    """SIGTERM: in-flight responses finish, WebSockets get 1001 and a websocket.disconnect, exit status 0."""
    url = redis_db.url
    layer = get_channel_layer("redis", {"hosts": [url]})
    worker = start_worker(url)
    server = Daphne(url, "--drain-timeout", "10")
    try:
        ws = websocket.create_connection(server.ws_url + "/ws/drain", timeout=10)
        ws.send("x")
        assert ws.recv() == "x"
        slow, result = in_thread(lambda: requests.get(server.url + "/slow?delay=2", timeout=15))
        time.sleep(0.5)
        os.kill(server.process.pid, signal.SIGTERM)
        opcode, frame = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(frame[:2], "big") == 1001
        with pytest.raises(ConnectionRefusedError):  # no longer accepting while the slow response drains
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        slow.join(15)
        assert result["value"].status_code == 200 and result["value"].text == "slow"
        server.process.popen.wait(15)
        assert server.process.popen.returncode == 0
        deadline = time.monotonic() + 10
        message = None
        while message is None and time.monotonic() < deadline:
            _, message = layer.receive(["test.events"], block=False)
            time.sleep(0.05)
        assert message is not None and message["code"] == 1001 and message["path"] == "/ws/drain"
    finally:
        server.stop()
        worker.stop()

"""The WsgiToAsgiAdapter under a real gunicorn, against a real redis-server and a real worker process."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import ManagedProcess, RedisServer, redis_servers, start_server

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@dataclass
class Stack:
    url: str
    gunicorn: ManagedProcess
    responder: ManagedProcess


def start_stack(redis: RedisServer, http_timeout: float = 30) -> Stack:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IS_REDIS_PORT": str(redis.port),
        "IS_HTTP_TIMEOUT": str(http_timeout),
    }
    responder = ManagedProcess(
        "wsgi-responder",
        [sys.executable, "-m", "tests.integration.wsgi_responder", str(redis.port)],
        env=env,
        cwd=str(ROOT),
    )
    gunicorn = start_server(
        "gunicorn",
        lambda port: [
            GUNICORN,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "-k",
            "gthread",
            "--threads",
            "24",
            "--timeout",
            "60",
            "tests.integration.wsgi_responder:make_app()",
        ],
        env=env,
        cwd=str(ROOT),
        timeout=20,
    )
    return Stack(f"http://127.0.0.1:{gunicorn.port}", gunicorn, responder)


def stop_stack(stack: Stack) -> None:
    stack.gunicorn.stop()
    stack.responder.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with redis_servers(1) as servers:
        running = start_stack(servers[0], http_timeout=2)
        try:
            yield running
        finally:
            stop_stack(running)


def test_get_reaches_worker_with_path_query_headers_and_peers(stack: Stack) -> None:
    """A GET through gunicorn arrives as http.request with text path, raw query, lowercased headers, client/server."""
    response = requests.get(stack.url + "/hello?a=1&b=%C2%A3", headers={"X-Trace": "t1"}, timeout=10)
    assert response.status_code == 200
    message = response.json()
    assert message["method"] == "GET" and message["path"] == "/hello" and message["root_path"] == ""
    assert message["query_string"] == "a=1&b=%C2%A3"
    assert ["x-trace", "t1"] in message["headers"]
    assert message["http_version"] == "1.1" and message["scheme"] == "http"
    assert message["client"][0] == "127.0.0.1" and message["server"][1] == int(stack.url.rsplit(":", 1)[1])
    assert message["reply_channel"].startswith("wsgi.response.") and "!" in message["reply_channel"]
    assert message["body_channel"] is False


def test_post_body_arrives_inline(stack: Stack) -> None:
    """A small POST body travels in the http.request message."""
    body = b"x=1&y=%C2%A3" * 10
    result = requests.post(stack.url + "/echo", data=body, timeout=10).json()
    assert result == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "first_part": len(body),
        "body_channel": False,
    }


def test_large_post_body_streams_over_body_channel(stack: Stack) -> None:
    """A 3 MB POST body reaches the worker intact, its first 512 KiB inline and the rest over body_channel."""
    body = os.urandom(3 * 1024 * 1024)
    result = requests.post(stack.url + "/echo", data=body, timeout=20).json()
    assert result == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "first_part": 512 * 1024,
        "body_channel": True,
    }


def test_chunked_upload_without_length_streams_too(stack: Stack) -> None:
    """A chunked-encoded upload (no Content-Length) is read to its end and forwarded whole."""
    parts = [os.urandom(300 * 1024) for _ in range(4)]
    result = requests.post(stack.url + "/echo", data=iter(parts), timeout=20).json()
    whole = b"".join(parts)
    assert result["length"] == len(whole) and result["sha256"] == hashlib.sha256(whole).hexdigest()
    assert result["body_channel"] is True


def test_streaming_response_arrives_chunk_by_chunk(stack: Stack) -> None:
    """more_content chunks reach the client as they are sent, not all at the end."""
    started = time.monotonic()
    arrivals = []
    with requests.get(stack.url + "/stream", stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        for line in response.iter_lines():
            arrivals.append((line, time.monotonic() - started))
    assert [line for line, _ in arrivals] == [f"chunk{i}".encode() for i in range(5)]
    assert arrivals[-1][1] - arrivals[0][1] >= 0.3


def test_big_response_of_3_mb(stack: Stack) -> None:
    """A 3 MB response sent as 48 chunks arrives complete with its Content-Length."""
    response = requests.get(stack.url + "/big", timeout=20)
    assert response.status_code == 200
    assert len(response.content) == 3 * 1024 * 1024 == int(response.headers["Content-Length"])
    assert response.content[:16] == b"0123456789abcdef"


def test_concurrent_requests_in_one_process_get_their_own_replies(stack: Stack) -> None:
    """20 concurrent requests in one gunicorn process (threads, one reply reader) each get their own reply."""

    def fetch(i: int) -> str:
        return requests.get(f"{stack.url}/hello?i={i}", timeout=15).json()["query_string"]

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(fetch, range(40)))
    assert answers == [f"i={i}" for i in range(40)]


def test_no_worker_reply_gives_503_after_http_timeout(stack: Stack) -> None:
    """A request nobody answers gets 503 with Retry-After after http_timeout (2 s here)."""
    started = time.monotonic()
    response = requests.get(stack.url + "/silent", timeout=15)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "failed to respond within time limit" in response.text
    assert response.headers["Retry-After"] == "1"
    assert 1.8 <= elapsed < 6
    assert requests.get(stack.url + "/hello", timeout=10).status_code == 200


@pytest.mark.slow
def test_redis_down_gives_fast_503_and_recovers_without_restart() -> None:
    """Redis stopped → waiting and new requests get a fast 503 with Retry-After; Redis back → requests work again."""
    with redis_servers(1) as servers:
        redis = servers[0]
        stack = start_stack(redis)
        try:
            assert requests.get(stack.url + "/hello", timeout=10).status_code == 200
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(requests.get, stack.url + "/silent", timeout=20)
                time.sleep(0.5)  # the request is now waiting on the reply reader
                redis.stop()
                stopped = time.monotonic()
                response = waiting.result()
            assert response.status_code == 503 and "Channel layer unavailable" in response.text
            assert time.monotonic() - stopped < 10  # far sooner than the 30 s http_timeout
            started = time.monotonic()
            response = requests.get(stack.url + "/hello", timeout=15)
            assert response.status_code == 503
            assert "Channel layer unavailable" in response.text
            assert response.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 5
            redis.start()
            deadline = time.monotonic() + 20
            status = None
            while time.monotonic() < deadline:
                status = requests.get(stack.url + "/hello", timeout=15).status_code
                if status == 200:
                    break
                time.sleep(0.3)
            assert status == 200
            assert stack.gunicorn.alive()
            body = os.urandom(1024 * 1024)
            assert requests.post(stack.url + "/echo", data=body, timeout=20).json()["length"] == len(body)
        finally:
            stop_stack(stack)

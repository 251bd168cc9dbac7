"""Our daphne in front of Channels 1.1.8 ``runworker`` (legacy virtualenv) serving tests/projects/legacy_echo.

Legacy Daphne 1.4.2 serves the same project from the same workers and Redis as a control: every
test runs against both, so a failure of ours alone is ours, and a failure of both is the harness.
The HTTP tests also run through gunicorn + our WsgiToAsgiAdapter (``ours_wsgi.py``, the one-line
``wsgi.py`` change) in front of the same legacy workers.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import websocket

from tests.legacy import legacy_venv
from tests.support.processes import ManagedProcess, free_port, start_server, wait_http_ok

pytestmark = [pytest.mark.legacy, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "projects" / "legacy_echo"
OUR_DAPHNE = str(Path(sys.executable).parent / "daphne")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
WS_SERVERS = ["ours", "legacy"]
HTTP_SERVERS = [*WS_SERVERS, "wsgi"]


@pytest.fixture(scope="module")
def urls(redis_databases) -> Iterator[dict[str, str]]:
    """Redis, two legacy runworker processes, both daphnes (ours and 1.4.2) and gunicorn+adapter on one layer."""
    venv = legacy_venv()
    with redis_databases.take() as database:
        env = {
            **os.environ,
            "LEGACY_ECHO_REDIS_URL": database.url,
            "DJANGO_SETTINGS_MODULE": "legacy_echo.settings",
            "PYTHONPATH": str(PROJECT),
        }
        ours_env = {**env, "PYTHONPATH": f"{PROJECT}:{ROOT}"}
        started = [
            ManagedProcess(
                f"legacy-runworker-{i}",
                [str(venv / "bin" / "python"), "manage.py", "runworker"],
                env=env,
                cwd=str(PROJECT),
            )
            for i in range(2)
        ]
        try:
            servers = {
                "ours": start_server(
                    "our-daphne",
                    lambda port: [OUR_DAPHNE, "-p", str(port), "ours_layer:channel_layer"],
                    env=ours_env,
                    cwd=str(PROJECT),
                    timeout=30,
                ),
                "legacy": start_server(
                    "legacy-daphne",
                    lambda port: [str(venv / "bin" / "daphne"), "-p", str(port), "legacy_echo.asgi:channel_layer"],
                    env=env,
                    cwd=str(PROJECT),
                    timeout=30,
                ),
                "wsgi": start_server(
                    "gunicorn-adapter",
                    lambda port: [
                        GUNICORN,
                        "-b",
                        f"127.0.0.1:{port}",
                        "-k",
                        "gthread",
                        "--threads",
                        "8",
                        "ours_wsgi:application",
                    ],
                    env=ours_env,
                    cwd=str(PROJECT),
                    timeout=30,
                ),
            }
            started += servers.values()
            base = {name: f"http://127.0.0.1:{server.port}" for name, server in servers.items()}
            for url in base.values():  # the workers are up once a view answers
                wait_http_ok(url + "/hello/", started, timeout=30)
            yield base
        finally:
            for process in started:
                process.stop()


@pytest.fixture(params=HTTP_SERVERS)
def url(request: pytest.FixtureRequest, urls: dict[str, str]) -> str:
    return urls[request.param]


@pytest.fixture(params=WS_SERVERS)
def ws_server(request: pytest.FixtureRequest, urls: dict[str, str]) -> str:
    return urls[request.param]


def ws_url(url: str, path: str) -> str:
    return url.replace("http://", "ws://") + path


def test_get_view(url: str) -> None:
    """A GET reaches a Django 2.2 view through runworker with its query and headers."""
    response = requests.get(url + "/hello/?a=1&b=two", headers={"X-Trace": "abc"}, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"path": "/hello/", "method": "GET", "query": {"a": "1", "b": "two"}, "trace": "abc"}


def test_post_with_body(url: str) -> None:
    """A POST body and its Content-Type reach the view intact."""
    body = b"x=1&y=%C2%A3&z=" + b"q" * 1000
    response = requests.post(
        url + "/echo/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10
    )
    assert response.json() == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "content_type": "application/x-www-form-urlencoded",
    }


def test_post_with_2_mb_body(url: str) -> None:
    """A 2 MB body reaches the legacy view whole (ours sends it over body_channel, which Channels 1 reads)."""
    body = os.urandom(2 * 1024 * 1024)
    response = requests.post(
        url + "/echo/", data=body, headers={"Content-Type": "application/octet-stream"}, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()


def test_streaming_response(url: str) -> None:
    """A StreamingHttpResponse arrives chunked, piece by piece."""
    started = time.monotonic()
    with requests.get(url + "/stream/", stream=True, timeout=10) as response:
        assert response.headers.get("Transfer-Encoding") == "chunked"
        lines = [(line, time.monotonic() - started) for line in response.iter_lines()]
    assert [line for line, _ in lines] == [f"chunk{i}".encode() for i in range(5)]
    assert lines[-1][1] - lines[0][1] >= 0.3


def test_3_mb_response(url: str) -> None:
    """A 3 MB HttpResponse (sent by AsgiHandler in 512 KiB chunks) arrives complete."""
    response = requests.get(url + "/big/", timeout=30)
    assert response.status_code == 200
    assert response.content == bytes(range(256)) * 4096 * 3


def test_websocket_accept_and_echo(ws_server: str) -> None:
    """A WebSocket is accepted by a legacy consumer and text and bytes frames are echoed."""
    ws = websocket.create_connection(ws_url(ws_server, "/ws/echo/"), timeout=10)
    try:
        ws.send("hello \u00a3")
        assert ws.recv() == "hello \u00a3"
        ws.send_binary(b"\x00\x01\xff")
        assert ws.recv() == b"\x00\x01\xff"
    finally:
        ws.close()


def test_websocket_reject_is_403(ws_server: str) -> None:
    """A consumer replying accept=False rejects the handshake with HTTP 403."""
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(ws_url(ws_server, "/ws/reject/"), timeout=10)
    assert caught.value.status_code == 403


def test_websocket_group_broadcast(ws_server: str, urls: dict[str, str]) -> None:
    """A group message reaches every member, including one connected through the other daphne."""
    room = f"/ws/group/r{free_port()}/"
    others = [urls[name] for name in WS_SERVERS]
    sockets = [websocket.create_connection(ws_url(u, room), timeout=10) for u in (ws_server, ws_server, *others)]
    try:
        sockets[0].send("to everyone")
        for ws in sockets:
            assert ws.recv() == "to everyone"
    finally:
        for ws in sockets:
            ws.close()

"""``manage.py runserver`` as a real process: in-process interface server + worker threads (reference §5.5)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket

from tests.support.processes import ADDRESS_IN_USE, ManagedProcess, start_server

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.djangoapp_http.settings"
#: How the interface server (Twisted) and Django's own runserver (``--noasgi``) say their port was taken.
RUNSERVER_IN_USE = (ADDRESS_IN_USE, "That port is already in use")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TEST_REDIS_PORT", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "TEST_DB": str(tmp_path / "db.sqlite3"),
            "TEST_ROUTING": "tests.djangoapp_http.routing.channel_routing",
            "PYTHONPATH": str(ROOT),
            # A hung process is stopped with SIGABRT by _wait_or_dump(); this makes it print every thread's stack.
            "PYTHONFAULTHANDLER": "1",
        }
    )
    env.update(extra)
    return env


def _wait_or_dump(process: ManagedProcess, timeout: float) -> int:
    """Wait for ``process`` to exit; if it does not, abort it and fail with its log and thread stacks."""
    try:
        return process.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.popen.wait(10)
        pytest.fail(f"{process.name} did not exit within {timeout} s; its log and stacks:\n{process.log()[-20000:]}")


def _migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=120)


def start_runserver(
    tmp_path: Path, *args: str, port: int | None = None, **env_extra: str
) -> tuple[ManagedProcess, int]:
    """Migrate a fresh database (once per directory) and start runserver on a free (or given) port."""
    env = _env(tmp_path, **env_extra)
    if not (tmp_path / "db.sqlite3").exists():
        _migrate(env)
    process = start_server(
        "runserver",
        lambda port: [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload", *args],
        port=port,
        env=env,
        cwd=str(ROOT),
        timeout=30,
        in_use=RUNSERVER_IN_USE,
    )
    return process, process.port or 0


@pytest.fixture
def runserver(tmp_path):
    process, port = start_runserver(tmp_path)
    yield process, f"127.0.0.1:{port}"
    process.stop()


@pytest.mark.slow
def test_http_websocket_and_groups_on_memory_layer(runserver):
    """With the in-memory layer, views, a 2 MB streamed body, WebSocket echo and group chat all work in one process."""
    process, address = runserver
    response = requests.get(f"http://{address}/echo/?a=1", timeout=10)
    assert response.status_code == 200 and response.json()["GET"] == {"a": ["1"]}
    body = os.urandom(2_000_000)
    response = requests.post(
        f"http://{address}/digest/", data=body, timeout=20, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.json() == {"length": len(body), "sha1": hashlib.sha1(body).hexdigest()}
    big = requests.get(f"http://{address}/big/?size=1500000", timeout=10)
    assert len(big.content) == 1_500_000
    echo = websocket.create_connection(f"ws://{address}/echo/", timeout=10)
    echo.send("hello")
    assert echo.recv() == "hello"
    echo.send_binary(b"\x00\x01")
    assert echo.recv() == b"\x00\x01"
    echo.close()
    alice = websocket.create_connection(f"ws://{address}/chat/lobby/", timeout=10)
    bob = websocket.create_connection(f"ws://{address}/chat/lobby/", timeout=10)
    alice.send("hi all")
    assert bob.recv() == "hi all" and alice.recv() == "hi all"
    alice.close()
    bob.close()
    time.sleep(0.3)
    log = process.log()
    assert "Starting Channels development server at http://" in log
    # 1.1.8's format: the request target with its query, the status, then [seconds taken, client].
    assert re.search(r"HTTP GET /echo/\?a=1 200 \[\d+\.\d\d, 127\.0\.0\.1:\d+\]", log), log
    assert "WebSocket CONNECT /chat/lobby/ [127.0.0.1:" in log


@pytest.mark.slow
def test_sigint_stops_cleanly(runserver):
    """Ctrl-C (SIGINT) with --noreload drains and exits with status 0 within a few seconds."""
    process, address = runserver
    assert requests.get(f"http://{address}/echo/", timeout=10).status_code == 200
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert _wait_or_dump(process, 20) == 0, process.log()
    assert time.monotonic() - started < 15


@pytest.mark.slow
def test_noworker_times_out_with_503(tmp_path):
    """--noworker starts no worker threads: a request waits --http_timeout seconds and gets 503."""
    process, port = start_runserver(tmp_path, "--noworker", "--http_timeout", "1")
    try:
        started = time.monotonic()
        response = requests.get(f"http://127.0.0.1:{port}/echo/", timeout=15)
        assert response.status_code == 503
        assert 0.9 <= time.monotonic() - started < 8
    finally:
        process.stop()


@pytest.mark.slow
def test_noasgi_is_django_wsgi_runserver(tmp_path):
    """--noasgi runs Django's WSGI development server instead."""
    process, port = start_runserver(tmp_path, "--noasgi")
    try:
        response = requests.get(f"http://127.0.0.1:{port}/echo/", timeout=10)
        assert response.status_code == 200
        assert response.headers["Server"].startswith("WSGIServer")
        assert "Starting Channels development server" not in process.log()
    finally:
        process.stop()


@pytest.mark.slow
def test_static_files_served_when_insecure(tmp_path):
    """Static files are served under STATIC_URL with --insecure (DEBUG off), and not with --nostatic."""
    process, port = start_runserver(tmp_path, "--insecure")
    try:
        response = requests.get(f"http://127.0.0.1:{port}/static/css/site.css", timeout=10)
        assert response.status_code == 200 and b"teal" in response.content
    finally:
        process.stop()
    process, port = start_runserver(tmp_path, "--insecure", "--nostatic")
    try:
        assert requests.get(f"http://127.0.0.1:{port}/static/css/site.css", timeout=10).status_code == 404
    finally:
        process.stop()


@pytest.mark.slow
def test_bundled_websocketbridge_is_served(tmp_path):
    """The bundled channels/js/websocketbridge.js is found by staticfiles for app "channels"."""
    process, port = start_runserver(tmp_path, "--insecure")
    try:
        response = requests.get(f"http://127.0.0.1:{port}/static/channels/js/websocketbridge.js", timeout=10)
        assert response.status_code == 200 and b"WebSocketBridge" in response.content
    finally:
        process.stop()


@pytest.mark.slow
def test_staticfiles_listed_first_still_gets_channels_runserver(tmp_path):
    """With django.contrib.staticfiles before channels in INSTALLED_APPS, runserver is still the channels one."""
    process, port = start_runserver(tmp_path, TEST_STATICFILES_FIRST="1")
    try:
        assert requests.get(f"http://127.0.0.1:{port}/echo/", timeout=10).status_code == 200
        assert "Starting Channels development server" in process.log()
    finally:
        process.stop()


@pytest.mark.slow
def test_autoreload_restarts_without_errors(tmp_path):
    """With the autoreloader, a code change restarts the server: requests meanwhile are refused, never 500."""
    env = _env(tmp_path)
    _migrate(env)
    process = start_server(
        "runserver-reload",
        lambda port: [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}"],
        env=env,
        cwd=str(ROOT),
        timeout=30,
        in_use=RUNSERVER_IN_USE,
    )
    port = process.port
    try:
        assert requests.get(f"http://127.0.0.1:{port}/echo/", timeout=10).status_code == 200
        # The first request imported views.py; Django's StatReloader (1 s ticks) only compares a file's
        # mtime with the one it recorded on an earlier tick, so let it record the file before touching it.
        time.sleep(2.5)
        os.utime(ROOT / "tests" / "djangoapp_http" / "views.py")
        statuses: list = []
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            try:
                statuses.append(requests.get(f"http://127.0.0.1:{port}/echo/", timeout=5).status_code)
            except requests.ConnectionError:
                statuses.append("refused")
            if process.log().count("Starting Channels development server") == 2 and statuses[-1] == 200:
                break
            time.sleep(0.1)
        assert process.log().count("Starting Channels development server") == 2, process.log()
        assert set(statuses) <= {200, "refused"} and statuses[-1] == 200, statuses
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the reloader and its child
        assert _wait_or_dump(process, 20) == 0 and time.monotonic() - started < 10
    finally:
        process.stop()

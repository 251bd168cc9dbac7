"""runserver on Redis, with ``--noworker`` and a separate ``runworker`` process: views across processes."""

from __future__ import annotations

import hashlib
import os
import sys
import time

import pytest
import requests
import websocket

from tests.integration.test_runserver import ROOT, _env, start_runserver
from tests.support.processes import ManagedProcess

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_views_through_separate_worker_process(tmp_path, redis_server):
    """runserver --noworker + runworker on Redis: 2 MB upload, 3 MB download, streaming, sessions, WebSocket."""
    prefix = f"rs{os.getpid()}:"
    server, port = start_runserver(tmp_path, "--noworker", TEST_REDIS_PORT=str(redis_server.port), TEST_PREFIX=prefix)
    env = _env(tmp_path, TEST_REDIS_PORT=str(redis_server.port), TEST_PREFIX=prefix)
    worker = ManagedProcess(
        "runworker", [sys.executable, "-m", "django", "runworker", "--threads", "2"], env=env, cwd=str(ROOT)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while "Listening on channels" not in worker.log():
            assert worker.alive() and time.monotonic() < deadline, worker.log()
            time.sleep(0.1)
        body = os.urandom(2_000_000)
        response = requests.post(
            f"{base}/digest/", data=body, timeout=30, headers={"Content-Type": "application/octet-stream"}
        )
        assert response.json() == {"length": len(body), "sha1": hashlib.sha1(body).hexdigest()}
        big = requests.get(f"{base}/big/", timeout=30)
        assert big.status_code == 200 and big.content == b"x" * (3 * 1024 * 1024)
        stream = requests.get(f"{base}/stream/?parts=4", timeout=10)
        assert stream.text == "part0;part1;part2;part3;"
        session = requests.Session()
        assert [session.get(f"{base}/session/", timeout=10).text for _ in range(3)] == ["1", "2", "3"]
        cookie = session.get(f"{base}/cookie/", timeout=10)
        assert cookie.cookies.get("flavour") == "oatmeal"
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/echo/", timeout=10)
        ws.send("over redis")
        assert ws.recv() == "over redis"
        ws.close()
        assert "Listening on channels" in worker.log() and "Traceback" not in worker.log()
    finally:
        worker.stop()
        server.stop()

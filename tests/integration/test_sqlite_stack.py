"""The whole stack on one SQLite layer file: a real interface server, runworker processes and rundelay.

The project is the end-to-end one (tests/e2e/project) with a settings module written per test that
switches its layer to SQLite.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from channellayer.sqlite import SQLiteChannelLayer
from tests.integration.is_support import masked_frame, raw_exchange, raw_websocket, status_of
from tests.support.processes import ManagedProcess, start_server

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "e2e" / "project"
DAPHNE = str(Path(sys.executable).parent / "daphne")

SETTINGS = """
from e2eproject.settings import *  # noqa
INSTALLED_APPS = [*INSTALLED_APPS, "channels.delay"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
CHANNEL_LAYERS = {{"default": {{"BACKEND": "sqlite", "ROUTING": "e2eproject.routing.channel_routing",
                              "CONFIG": {{"path": {layer!r}, "blocking_timeout": 1}}}}}}
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SQLiteStack:
    """Processes of one deployment on one layer file (stopped by pid at the end)."""

    def __init__(self, tmp_path: Path) -> None:
        self.layer_path = str(tmp_path / "layer.sqlite3")
        (tmp_path / "sqlitestack_settings.py").write_text(
            SETTINGS.format(db=str(tmp_path / "db.sqlite3"), layer=self.layer_path)
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "sqlitestack_settings",
                "PYTHONUNBUFFERED": "1",
                "E2E_CACHE_DIR": str(tmp_path / "cache"),
                "PYTHONPATH": f"{tmp_path}:{PROJECT}:{ROOT}",
            }
        )
        self.processes: list[ManagedProcess] = []
        self.port = 0

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env=self.env,
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    def start(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, env=self.env, cwd=str(PROJECT))
        self.processes.append(process)
        return process

    def server(self) -> ManagedProcess:
        process = start_server(
            "sqlite-daphne",
            lambda port: [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "e2eproject.asgi:channel_layer"],
            env=self.env,
            cwd=str(PROJECT),
            timeout=30,
        )
        self.processes.append(process)
        self.port = process.port or 0
        return process

    def worker(self, number: int) -> ManagedProcess:
        return self.start(f"sqlite-worker{number}", [sys.executable, "-m", "django", "runworker"])

    def rundelay(self) -> ManagedProcess:
        process = self.start("sqlite-rundelay", [sys.executable, "-m", "django", "rundelay", "--sleep", "0.5"])
        deadline = time.monotonic() + 30
        while "Listening on asgi.delay" not in process.log():
            assert process.alive() and time.monotonic() < deadline, process.log()
            time.sleep(0.1)
        return process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/hello/", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the stack never answered /hello/:\n" + self.logs()
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-3000:]}" for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SQLiteStack]:
    deployment = SQLiteStack(tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop()


def _pong_latency(sock: socket.socket, payload: bytes) -> float:
    """Send a ping; return the seconds until its pong (0x8A frame carrying ``payload``) arrives."""
    started = time.monotonic()
    sock.sendall(masked_frame(0x9, payload))
    data = b""
    while bytes([0x8A, len(payload)]) + payload not in data:
        piece = sock.recv(4096)
        assert piece, "the server closed the WebSocket"
        data += piece
    return time.monotonic() - started


@pytest.mark.slow
def test_the_event_loop_keeps_answering_while_another_process_holds_the_write_lock(stack: SQLiteStack) -> None:
    """While another process holds the layer's write lock for 3 s, pings and a 400 stay fast; a request gets 503."""
    stack.server()
    stack.worker(1)
    stack.wait_ready()
    sock = raw_websocket(stack.port, "/echo/")
    assert _pong_latency(sock, b"warm") < 2
    locker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None); db.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True); time.sleep(3); db.execute('ROLLBACK')",
            stack.layer_path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        reply: dict[str, Any] = {}

        def request() -> None:
            response = requests.get(stack.url + "/hello/", timeout=30)
            reply["status"], reply["at"], reply["body"] = response.status_code, time.monotonic(), response.text

        requester = threading.Thread(target=request)
        requester.start()
        pongs, bad_request = [], []
        while time.monotonic() - locked_at < 2.5:  # the IS's reply reader times out every second meanwhile
            pongs.append(_pong_latency(sock, b"p%d" % len(pongs)))
            started = time.monotonic()
            bad_request.append(
                (status_of(raw_exchange(stack.port, b"GET / HTTP/1.1\r\nHost x\r\n\r\n")), time.monotonic() - started)
            )
            time.sleep(0.1)
        requester.join(30)
    finally:
        locker.wait(10)
    print(
        f"pong latency under the lock: max {max(pongs) * 1000:.1f} ms over {len(pongs)} pings; "
        f"reply after {reply['at'] - locked_at:.2f} s"
    )
    assert max(pongs) < 0.5, pongs
    assert all(status == 400 and elapsed < 0.5 for status, elapsed in bad_request), bad_request
    # The request's send waited for the lock on the layer's thread until the server's send deadline
    # (0.8 s) and was answered 503 by the server: an answer, not a hang, and no SQLite error text.
    assert reply["status"] == 503 and 0.7 <= reply["at"] - locked_at < 2.5, reply
    assert "Channel layer unavailable" in reply["body"] and "locked" not in reply["body"]
    assert _pong_latency(sock, b"after") < 2
    assert requests.get(stack.url + "/hello/", timeout=10).status_code == 200  # the layer works again
    sock.close()


@pytest.mark.slow
def test_interface_server_four_workers_and_rundelay_share_one_file_under_load(stack: SQLiteStack) -> None:
    """1 IS + 4 workers + rundelay: every request answered, every worker serves, delays arrive, no lock error, idle CPU ≈ 0."""
    stack.manage("migrate", "-v", "0")
    server = stack.server()
    workers = [stack.worker(number) for number in range(4)]
    delay = stack.rundelay()
    stack.wait_ready()
    layer = SQLiteChannelLayer(path=stack.layer_path, blocking_timeout=1)
    local = threading.local()

    def hello(number: int) -> tuple[int, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.get(stack.url + f"/hello/?name=n{number}", timeout=30)
        return response.status_code, response.json()["pid"] if response.status_code == 200 else 0

    for number in range(20):
        layer.send("asgi.delay", {"channel": "delayed.back", "content": {"n": number}, "delay": 200})
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(hello, range(800)))
    delayed = []
    deadline = time.monotonic() + 20
    while len(delayed) < 20 and time.monotonic() < deadline:
        channel, message = layer.receive(["delayed.back"], block=True)
        if message is not None:
            delayed.append(message["n"])
    statuses = Counter(status for status, _ in results)
    served = Counter(pid for _, pid in results)
    assert statuses == {200: 800}, statuses
    assert set(served) == {worker.pid for worker in workers}, served  # no worker starved
    assert sorted(delayed) == list(range(20))
    time.sleep(1.5)  # past the last blocking timeouts of the load
    everyone = [server, *workers, delay]
    before = {process.pid: _cpu_seconds(process.pid) for process in everyone}
    time.sleep(4)
    idle = {process.name: _cpu_seconds(process.pid) - before[process.pid] for process in everyone}
    print("requests per worker:", dict(served), "idle CPU over 4 s:", idle)
    assert all(used < 0.2 for used in idle.values()), idle
    for process in everyone:
        assert process.alive(), process.log()
        assert not re.search("database is locked|Traceback", process.log()), process.log()
    layer.close()

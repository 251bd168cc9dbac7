"""deploy/supervisord/chatsite.conf run by a real supervisord (from PyPI): one shared port, two pools, restarts.

supervisord binds the port and passes it to two interface servers as fd 0 ([fcgi-program]); each also
listens on its own UNIX socket. The default worker pool (``--exclude-channels reports.*``) and the
background pool (``--only-channels reports.*``) form the ``workers`` group. One supervisord serves
every test of the module; tests restart parts of it and leave it running.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websocket

from tests.deploy.support import (
    DEPLOY,
    VENV_BIN,
    common_replacements,
    current_user,
    get_json,
    new_prefix,
    open_ws,
    project_env,
    render,
    served,
    wait_until,
    ws_roundtrip,
)
from tests.support.processes import ManagedProcess, start_server

pytestmark = [pytest.mark.redis, pytest.mark.deploy]

CONF = DEPLOY / "supervisord" / "chatsite.conf"


@dataclass
class Supervisor:
    process: ManagedProcess
    dir: Path
    port: int

    def ctl(self, *args: str, timeout: float = 60) -> str:
        out = subprocess.run(
            [str(VENV_BIN / "supervisorctl"), "-c", str(self.dir / "supervisord.conf"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return out.stdout + out.stderr

    def pids(self) -> dict[str, int]:
        """Process name -> pid of every RUNNING program."""
        return {
            m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+RUNNING\s+pid (\d+)", self.ctl("status"), re.M)
        }

    def sock(self, num: int) -> str:
        return str(self.dir / "run" / f"daphne{num}.sock")

    def log(self) -> str:
        return (self.dir / "log" / "supervisord.log").read_text()


def ensure_supervisor() -> None:
    """supervisord from PyPI in this venv (the test extra has it; installed here when it is missing)."""
    if not (VENV_BIN / "supervisord").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "supervisor>=4.2"], check=True, timeout=600)


@pytest.fixture(scope="module")
def supervisor(redis_server, tmp_path_factory) -> Iterator[Supervisor]:
    """supervisord running the shipped file (paths, port, user and Redis swapped for this machine's)."""
    ensure_supervisor()
    base = tmp_path_factory.mktemp("supervisor")
    (base / "run").mkdir()
    (base / "log").mkdir()

    def supervisord(port: int) -> list[str]:
        """The shipped file with this try's port (supervisord binds it and hands it to both daphnes)."""
        text = render(
            CONF,
            [
                *common_replacements(base / "run"),
                ("/run/daphne", str(base / "run")),
                ("/var/log/chat", str(base / "log")),
                ("user=chat", f"user={current_user()}"),
                ("tcp://127.0.0.1:8000", f"tcp://127.0.0.1:{port}"),
                ("redis://127.0.0.1:6379/0", redis_server.url),
            ],
        )
        (base / "chatsite.conf").write_text(text)
        return [str(VENV_BIN / "supervisord"), "-c", str(base / "supervisord.conf")]

    (base / "supervisord.conf").write_text(f"""\
[unix_http_server]
file={base}/supervisor.sock
[supervisord]
nodaemon=true
logfile={base}/log/supervisord.log
pidfile={base}/supervisord.pid
childlogdir={base}/log
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{base}/supervisor.sock
[include]
files={base}/chatsite.conf
""")
    env = project_env(redis_server.url, new_prefix())
    # supervisord itself binds the shared port, so start_server sees it listen (or lose it and try another);
    # a supervisord that lost its port exits before it starts a program, so stopping it leaves nothing behind.
    process = start_server("supervisord", supervisord, env=env)
    sup = Supervisor(process, base, process.port or 0)
    try:
        wait_until(served(sup.port), timeout=60, what="the project answering through the shared port")
        wait_until(lambda: len(sup.pids()) == 5, timeout=30, what="2 daphnes + 3 workers RUNNING")
        yield sup
    finally:
        code = process.stop(timeout=60)
        assert code == 0, f"supervisord exited {code}"


def test_http_and_websocket_through_the_shared_port(supervisor):
    """HTTP and WebSocket through the port supervisord bound; the background pool answers jobs."""
    sup = supervisor
    status, body = get_json(sup.port)
    assert status == 200 and body["scheme"] == "http"
    pids = sup.pids()
    default_pids = {pid for name, pid in pids.items() if name.startswith("workers:worker-default")}
    background_pids = {pid for name, pid in pids.items() if name.startswith("workers:worker-background")}
    assert body["pid"] in default_pids
    ws = open_ws("/echo/", sup.port)
    reply = ws_roundtrip(ws, "hi")
    assert reply["echo"] == "hi" and reply["pid"] in default_pids
    ws.close()
    job = open_ws("/job/", sup.port)
    reply = ws_roundtrip(job, "render")
    assert reply["job"] == "render" and reply["pid"] in background_pids
    job.close()


def test_each_daphne_also_serves_its_own_unix_socket(supervisor):
    """-u /run/daphne/daphne%(process_num)d.sock: both processes answer on their own socket."""
    for num in (0, 1):
        status, body = get_json(unix=supervisor.sock(num))
        assert status == 200, body
        ws = open_ws("/echo/", unix=supervisor.sock(num))
        assert ws_roundtrip(ws, f"via {num}")["echo"] == f"via {num}"
        ws.close()


class Chatter(threading.Thread):
    """A WebSocket sending a numbered message every 200 ms and collecting the answers."""

    def __init__(self, ws: websocket.WebSocket, path: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.ws, self.key, self.stop = ws, "job" if path == "/job/" else "echo", stop
        self.sent = 0
        self.received: list[str] = []
        self.pids: list[int] = []
        self.errors: list[str] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.ws.send(f"m{self.sent}")
                self.sent += 1
                time.sleep(0.2)
        except Exception as exc:
            self.errors.append(f"send: {type(exc).__name__}: {exc}")

    def collect(self, timeout: float) -> None:
        """Read replies until sending stopped and every sent message is answered (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        self.ws.settimeout(1)
        while (not self.stop.is_set() or len(self.received) < self.sent) and time.monotonic() < deadline:
            try:
                opcode, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as exc:
                self.errors.append(f"recv: {type(exc).__name__}: {exc}")
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.errors.append(f"closed by the server: {int.from_bytes(frame.data[:2], 'big')} {frame.data[2:]!r}")
                return
            reply = json.loads(frame.data)
            self.received.append(reply[self.key])
            self.pids.append(reply["pid"])


def test_restarting_the_worker_group_drops_no_socket(supervisor):
    """supervisorctl restart workers:* under WebSocket traffic: no socket drops, every message answered once."""
    sup = supervisor
    before = sup.pids()
    old_workers = {pid for name, pid in before.items() if name.startswith("workers:")}
    stop = threading.Event()
    chatters = [Chatter(open_ws(path, sup.port), path, stop) for path in ("/echo/",) * 5 + ("/job/",)]
    readers: list[threading.Thread] = []
    for chatter in chatters:
        chatter.start()
        reader = threading.Thread(target=chatter.collect, args=(60,), daemon=True)
        reader.start()
        readers.append(reader)
    time.sleep(0.5)
    output = sup.ctl("restart", "workers:*")
    time.sleep(1.0)
    stop.set()
    for chatter in chatters:
        chatter.join(5)
    for reader in readers:
        reader.join(60)
    after = sup.pids()
    new_workers = {pid for name, pid in after.items() if name.startswith("workers:")}
    assert len(new_workers) == 3 and not new_workers & old_workers, (output, before, after)
    for chatter in chatters:
        assert chatter.errors == [], chatter.errors
        # Exactly once each; not in order: two workers serve one socket's messages side by side, and
        # Channels 1 orders them only for consumers with @enforce_ordering.
        assert sorted(chatter.received) == sorted(f"m{i}" for i in range(chatter.sent)), chatter.received
        assert chatter.pids[-1] in new_workers, "the last messages were answered by the new workers"
        assert chatter.ws.connected
        chatter.ws.close()
    for name in ("worker-default-0", "worker-default-1", "worker-background-0"):
        assert re.search(rf"stopped: {name} \(exit status 0\)", sup.log()), sup.log()[-3000:]


def test_restarting_one_daphne_leaves_the_other_serving(supervisor):
    """supervisorctl restart asgi:asgi0: its sockets close with 1001, asgi1's stay open, the port never refuses."""
    sup = supervisor
    old_pid = sup.pids()["asgi:asgi0"]
    on_0 = open_ws("/echo/", unix=sup.sock(0))
    on_1 = open_ws("/echo/", unix=sup.sock(1))
    assert ws_roundtrip(on_0, "a")["echo"] == "a" and ws_roundtrip(on_1, "b")["echo"] == "b"
    stop = threading.Event()
    results: list[int | str] = []

    def requests_through_the_port() -> None:
        while not stop.is_set():
            try:
                results.append(get_json(sup.port, timeout=10)[0])
            except Exception as exc:
                results.append(f"{type(exc).__name__}: {exc}")

    closes: list[websocket.ABNF] = []

    def answer_the_close() -> None:
        # Like a browser: read the server's close frame as it comes and answer it, so the drain ends at once.
        on_0.settimeout(30)
        closes.append(on_0.recv_frame())
        on_0.send_close(websocket.STATUS_GOING_AWAY)

    closer = threading.Thread(target=answer_the_close, daemon=True)
    closer.start()
    client = threading.Thread(target=requests_through_the_port, daemon=True)
    client.start()
    output = sup.ctl("restart", "asgi:asgi0")
    closer.join(30)
    (frame,) = closes
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1001
    assert ws_roundtrip(on_1, "still here")["echo"] == "still here"
    time.sleep(0.5)
    stop.set()
    client.join(15)
    assert results and all(r == 200 for r in results), (output, [r for r in results if r != 200][:5])
    new_pid = sup.pids()["asgi:asgi0"]
    assert new_pid != old_pid
    assert wait_until(served(unix=sup.sock(0)), timeout=20, what="the restarted daphne on its socket")
    on_1.close()

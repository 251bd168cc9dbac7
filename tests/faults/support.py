"""What the fault tests share: the short/long form, the stack of real processes, load clients, figures.

The stack is the end-to-end project (``tests/e2e/project``) as real processes: a redis-server of the
test's own on a free port, this project's ``daphne`` script and ``runworker`` processes, all started
by :class:`tests.e2e.stack.Stack`. Load clients are threads in the test process speaking real HTTP
(``requests``) and WebSocket (``websocket-client``) to the interface server, and they record every
outcome with its latency, so a test can say exactly what each client saw during a fault.

``FAULTS_FORM=long`` (what ``make bench`` sets) chooses the long form: 5 s outages, thousands of
connections, more load. Unset or ``short`` is the form ``make test`` runs. When ``FAULTS_REPORT``
names a file, :func:`record` appends each test's figures to it as JSON lines (bench/faults.py reads
them and writes docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import websocket

from tests.e2e.stack import Stack
from tests.support.processes import ManagedProcess, RedisServer

FORM = os.environ.get("FAULTS_FORM", "short")
if FORM not in ("short", "long"):
    raise ValueError(f"FAULTS_FORM must be 'short' or 'long', not {FORM!r}")
LONG = FORM == "long"


@dataclass(frozen=True)
class Profile:
    """Sizes of one form of the suite."""

    outage: float  # seconds Redis is stopped or frozen
    http_clients: int  # threads doing keep-alive GETs
    ws_clients: int  # threads echoing over a WebSocket
    slowloris: int  # connections trickling their request head
    slow_readers: int  # connections that ask for a big response and do not read it
    stalled_uploads: int  # connections that send most of a body, then stop
    abandoned: int  # connections opened and left without a byte
    settle: float  # seconds of load before and after a fault


PROFILE = (
    Profile(
        outage=5.0,
        http_clients=8,
        ws_clients=8,
        slowloris=500,
        slow_readers=100,
        stalled_uploads=200,
        abandoned=5000,
        settle=3.0,
    )
    if LONG
    else Profile(
        outage=2.0,
        http_clients=4,
        ws_clients=4,
        slowloris=100,
        slow_readers=20,
        stalled_uploads=40,
        abandoned=500,
        settle=0.7,
    )
)


def record(test: str, **figures: Any) -> None:
    """Append ``figures`` of ``test`` to the FAULTS_REPORT file (one JSON object a line), if one is named."""
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with open(path, "a", encoding="utf8") as out:
            out.write(json.dumps({"test": test, "form": FORM, **figures}) + "\n")


class FaultStack(Stack):
    """The e2e project on its own Redis, with extra options for the server and extra environment."""

    def __init__(self, redis: RedisServer, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(redis=redis, prefix="asgi:")
        self.extra_env = extra_env or {}

    def env(self, legacy: bool) -> dict[str, str]:
        return {**super().env(legacy), **self.extra_env}

    def workers(self, count: int, *args: str) -> list[ManagedProcess]:
        return [self.worker(f"fault-worker-{i}", *args) for i in range(count)]

    def wait_workers(self, workers: list[ManagedProcess], timeout: float = 60.0) -> None:
        """Until every worker has answered a request (its pid seen in a /hello/ reply)."""
        wanted = {w.pid for w in workers}
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        with requests.Session() as session:
            while not wanted <= seen:
                assert time.monotonic() < deadline, f"workers {wanted - seen} never answered"
                with contextlib.suppress(requests.RequestException):
                    reply = session.get(self.url + "/hello/", timeout=5)
                    if reply.status_code == 200:
                        seen.add(reply.json()["pid"])
                        continue
                time.sleep(0.05)

    def all_alive(self) -> list[str]:
        """Names of the stack's processes that have exited (empty when all are running)."""
        return [f"{p.name} (exit {p.popen.returncode})" for p in self.processes if not p.alive()]


@contextlib.contextmanager
def fault_stack(
    redis: RedisServer,
    *server_args: str,
    workers: int = 2,
    worker_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[tuple[FaultStack, ManagedProcess, list[ManagedProcess]]]:
    """A running stack (server + ``workers`` runworkers) that every worker has served; stopped at the end."""
    stack = FaultStack(redis, env)
    try:
        pool = stack.workers(workers, *worker_args)
        server = stack.server(*server_args)
        stack.wait_ready()
        stack.wait_workers(pool)
        yield stack, server, pool
    finally:
        stack.stop()


# -- load ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request (or WebSocket round trip / connect) as a client saw it."""

    kind: str  # "http", "ws", "ws-connect"
    started: float  # time.monotonic() when sent
    latency: float
    result: str  # "200", "503", "close 1011", "error ConnectionError", ...
    client: str = ""  # the load thread's name


@dataclass
class Load:
    """HTTP and WebSocket clients hammering a stack in threads until :meth:`stop`."""

    stack: Stack
    http_clients: int
    ws_clients: int
    path: str = "/hello/"
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for i in range(self.http_clients):
            self._threads.append(threading.Thread(target=self._http, name=f"load-http-{i}", daemon=True))
        for i in range(self.ws_clients):
            self._threads.append(threading.Thread(target=self._ws, args=(i,), name=f"load-ws-{i}", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(25)
        hung = [t.name for t in self._threads if t.is_alive()]
        assert not hung, f"load clients hung: {hung}; last outcomes {self.outcomes[-5:]}"
        return self.outcomes

    def all_served_since(self, moment: float) -> bool:
        """Whether every client thread has had a success for a request sent after ``moment``."""
        with self._lock:
            served = {o.client for o in self.outcomes if o.started >= moment and o.result in ("200", "echo")}
        return len(served) >= len(self._threads)

    def _add(self, kind: str, started: float, result: str) -> None:
        with self._lock:
            self.outcomes.append(
                Outcome(kind, started, time.monotonic() - started, result, threading.current_thread().name)
            )

    def _http(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                reply = session.get(self.stack.url + self.path, timeout=20)
                result = str(reply.status_code)
                if reply.status_code == 200 and "hello" not in reply.text:
                    result = "200 wrong body"
                if reply.status_code == 503:
                    result = f"503 {_detail(reply.text)}"
            except requests.RequestException as exc:
                result = f"error {type(exc).__name__}"
                session.close()
                session = requests.Session()
            self._add("http", started, result)
            if not result.startswith("200"):
                time.sleep(0.05)  # what a polite client does on 503 (Retry-After is 1 s; we probe faster)
        session.close()

    def _ws(self, index: int) -> None:
        ws: websocket.WebSocket | None = None
        n = 0
        while not self._stop.is_set():
            if ws is None:
                started = time.monotonic()
                try:
                    ws = websocket.create_connection(self.stack.ws + "/echo/", timeout=20)
                    self._add("ws-connect", started, "101")
                except websocket.WebSocketBadStatusException as exc:
                    self._add("ws-connect", started, str(exc.status_code))
                    time.sleep(0.05)
                    continue
                except (OSError, websocket.WebSocketException) as exc:
                    self._add("ws-connect", started, f"error {type(exc).__name__}")
                    time.sleep(0.05)
                    continue
            n += 1
            text = f"c{index}-{n}"
            started = time.monotonic()
            try:
                ws.send(text)
                opcode, data = ws.recv_data(control_frame=True)
                while opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                    opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    result = f"close {int.from_bytes(data[:2], 'big')}"
                elif json.loads(data)["echo"] == text:
                    result = "echo"
                else:
                    result = "wrong echo"
            except (OSError, websocket.WebSocketException, ValueError) as exc:
                result = f"error {type(exc).__name__}"
            self._add("ws", started, result)
            if result != "echo":
                with contextlib.suppress(Exception):
                    ws.close(timeout=1)
                ws = None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=1)


def _detail(page: str) -> str:
    """The one-line reason of one of our error pages (the <p> of the page), e.g. 'Channel layer unavailable.'."""
    start, end = page.find("<p>"), page.find("</p>")
    return page[start + 3 : end].strip() if 0 <= start < end else page[:60]


def window(outcomes: list[Outcome], start: float, end: float, kind: str | None = None) -> list[Outcome]:
    """Outcomes of requests sent in [start, end)."""
    return [o for o in outcomes if start <= o.started < end and (kind is None or o.kind == kind)]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    return counts


# -- measuring the server --------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(port: int, path: str = "/hello/") -> tuple[float, int]:
    """One fresh connection, one GET: (seconds from connect to the whole response, status)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    return time.monotonic() - started, int(data.split(b" ", 2)[1])


def our_keys(redis: RedisServer) -> dict[str, tuple[str, int]]:
    """Every key in the test's Redis: name -> (type, TTL in s, -1 for none)."""
    client = redis.client()
    keys = {}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        keys[name] = (client.type(key).decode(), int(client.ttl(key)))
    return keys

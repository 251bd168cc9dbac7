"""A rolling replacement of every worker under WebSocket and HTTP load loses nothing.

Generation 1 (one single-threaded worker and one ``--threads 4`` worker) serves the project behind
our interface server (or Daphne 1.4.2, as during a migration) while clients keep 10 WebSockets echoing (some consumers take 100 ms, so
messages are in flight) and 3 HTTP clients requesting a view. Generation 2 starts, generation 1 gets
SIGTERM; the load continues on generation 2 alone. Zero dropped sockets, zero lost messages, zero
failed requests, and every stopped worker exits 0.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
import requests
import websocket

from tests.e2e.stack import Stack, wait_listening

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class SocketClient(threading.Thread):
    """One WebSocket sending numbered frames and checking each echo comes back, in order."""

    def __init__(self, url: str, index: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.ws = websocket.create_connection(url + "/echo/", timeout=20)
        self.index, self.stop = index, stop
        self.sent = self.received = 0
        self.errors: list[str] = []

    def run(self) -> None:
        import json

        try:
            while not self.stop.is_set():
                text = f"{'slow:' if self.sent % 2 else ''}{self.index}-{self.sent}"
                self.ws.send(text)
                self.sent += 1
                reply = json.loads(self.ws.recv())
                if reply["echo"] != text:
                    self.errors.append(f"expected {text!r}, got {reply!r}")
                self.received += 1
        except Exception as exc:  # the test reports it
            self.errors.append(f"{type(exc).__name__}: {exc}")


class HttpClient(threading.Thread):
    """Requests a view (50 ms of work each) in a loop, recording every failure."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                response = session.get(self.url + "/hello/?sleep=0.05", timeout=30)
                if response.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {response.status_code}")
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("server", ["ours", "legacy-daphne"])
def test_rollout_of_every_worker_under_load(redis_db, server):
    """Replacing single-threaded and --threads 4 workers under load, behind our daphne or Daphne 1.4.2:
    no socket, message or request lost."""
    s = Stack.on(redis_db, prefix=f"rollout-{server}:")
    try:
        gen1 = [s.worker("gen1-single"), s.worker("gen1-threads", "--threads", "4")]
        s.server(legacy=server == "legacy-daphne")
        s.wait_ready()
        stop = threading.Event()
        sockets = [SocketClient(s.ws, i, stop) for i in range(10)]
        https = [HttpClient(s.url, stop) for _ in range(3)]
        for client in [*sockets, *https]:
            client.start()
        time.sleep(1.5)
        gen2 = [s.worker("gen2-single"), s.worker("gen2-threads", "--threads", "4")]
        for process in gen2:
            wait_listening(process, 30)
        before = sum(c.received for c in sockets)
        for process in gen1:
            process.send_signal(signal.SIGTERM)
        codes = [process.popen.wait(20) for process in gen1]
        served_by_gen1 = [p.log() for p in gen1]
        time.sleep(2.0)
        stop.set()
        for client in [*sockets, *https]:
            client.join(30)
        print(
            f"rollout behind {server}: {sum(c.received for c in sockets)} echoes on {len(sockets)} sockets, "
            f"{sum(c.ok for c in https)} HTTP requests, generation 1 exit codes {codes}"
        )
        assert codes == [0, 0], served_by_gen1
        assert [c.errors for c in sockets] == [[]] * len(sockets)
        assert [c.sent - c.received for c in sockets] == [0] * len(sockets)
        assert [c.failures for c in https] == [[]] * len(https)
        assert sum(c.received for c in sockets) > before > 0, "load did not continue after the rollout"
        assert all(c.ok > 0 for c in https)
        for client in sockets:  # every socket is still open and served by generation 2
            client.ws.send("after")
            assert '"after"' in client.ws.recv()
            client.ws.close()
        assert all("Worker stopped cleanly" in log for log in served_by_gen1)
    finally:
        s.stop()

"""The in-process API (interfaceserver.embedded) and the drain that waits on the last connection, not a poll.

A Twisted reactor runs once per process, so every test that runs a server does it in a child
Python; the drain tests drive ``Server.drain()`` on a plain asyncio loop with fake connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from twisted.internet.testing import MemoryReactorClock

from channellayer import get_channel_layer
from interfaceserver.config import Config
from interfaceserver.embedded import EmbeddedServer
from interfaceserver.server import Server

ROOT = Path(__file__).resolve().parents[2]

#: Run before every child program: a memory layer, a worker thread answering every http.request
#: with "hi from <path>", and a Config on a free port of 127.0.0.1. The layer's short blocking
#: timeout keeps the child's exit short: the reply reader's blocking receive runs in a pool thread
#: that the interpreter waits for.
PRELUDE = """
import json, os, sys, threading, urllib.request
from channellayer import get_channel_layer
from interfaceserver.config import Config
from interfaceserver.embedded import AccessLog, EmbeddedServer

layer = get_channel_layer("memory", {"blocking_timeout": 0.2})
config = Config(channel_layer="test", endpoints=("tcp:port=0:interface=127.0.0.1",), drain_timeout=5)

def answer():
    while True:
        _, message = layer.receive(["http.request"], block=True)
        if message is not None:
            layer.send(message["reply_channel"], {"status": 200, "content": ("hi from " + message["path"]).encode()})

threading.Thread(target=answer, daemon=True).start()

def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read().decode()
"""


def child(program: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + ``program`` in a fresh Python (its own reactor) with the repository on sys.path."""
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(program)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_background_server_reports_port_serves_logs_and_stops():
    """start() returns once listening with the bound port; stop() drains, ends the thread and frees the port."""
    result = child(
        """
        class Hook:
            def __init__(self):
                self.calls = []
            def http(self, client, method, path, status, length, time_taken=None):
                self.calls.append([method, path, status, length])
            def websocket(self, client, action, path):
                self.calls.append([action, path])

        hook = Hook()
        server = EmbeddedServer(config, layer, hook).start()
        port = server.ports[0]
        body = get(port, "/a?b=1")
        threads = sorted(t.name for t in threading.enumerate())
        stopped = server.stop()
        import socket
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        print(json.dumps({"port": port, "body": body, "calls": hook.calls, "stopped": stopped,
                          "exit_code": server.exit_code, "threads": threads, "refused": refused,
                          "prefix": server.reply_prefix}))
        """
    )
    report = last_json(result)
    assert report["port"] > 0 and report["body"] == "hi from /a"
    assert report["calls"] == [["GET", "/a?b=1", 200, len("hi from /a")]]
    assert "interfaceserver" in report["threads"]
    assert report["stopped"] is True and report["exit_code"] == 0 and report["refused"] is True
    assert report["prefix"].startswith("daphne.response.") and report["prefix"].endswith("!")


def test_run_in_this_thread_stops_on_sigterm_with_status_0(tmp_path):
    """run() on the main thread serves until SIGTERM, drains and returns 0; on_listening gets the server."""
    ready = tmp_path / "port"
    program = f"""
        def listening(server):
            with open({str(ready)!r}, "w") as f:
                f.write(str(server.ports[0]))

        import logging
        logging.basicConfig(level=logging.INFO)
        sys.exit(EmbeddedServer(config, layer, AccessLog(sys.stdout)).run(on_listening=listening))
        """
    process = subprocess.Popen(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(program)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
            time.sleep(0.05)
        port = int(ready.read_text())
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert b"hi from /x" in sock.recv(4096)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert '"GET /x" 200' in output and "Drained; exiting" in output


def test_listen_failure_and_one_server_per_process():
    """A port in use: start() raises naming the cause, run() returns 1; a second reactor is refused."""
    result = child(
        """
        import socket
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = Config(channel_layer="test", endpoints=(f"tcp:port={busy.getsockname()[1]}:interface=127.0.0.1",))
        server = EmbeddedServer(taken, layer)
        try:
            server.start()
            error = None
        except RuntimeError as exc:
            error = str(exc)
        try:
            EmbeddedServer(config, layer).run()
            again = None
        except RuntimeError as exc:
            again = str(exc)
        print(json.dumps({"error": error, "exit_code": server.exit_code, "again": again}))
        """
    )
    report = last_json(result)
    assert report["error"].startswith("the interface server could not listen:")
    assert "Address already in use" in report["error"] and report["exit_code"] == 1
    assert "runs once per process" in report["again"]


def test_malformed_endpoint_is_a_value_error_from_start():
    """A bad endpoint string surfaces from start() as the ValueError naming it (the CLI's usage error)."""
    result = child(
        """
        try:
            EmbeddedServer(Config(channel_layer="test", endpoints=("bogus:1",)), layer).start()
            error = None
        except ValueError as exc:
            error = str(exc)
        print(json.dumps({"error": error}))
        """
    )
    assert "invalid endpoint 'bogus:1'" in last_json(result)["error"]


def test_stop_before_run_makes_run_return_at_once():
    """stop() before run() (runserver stopping while its server thread starts): run() returns 0, nothing runs."""
    server = EmbeddedServer(Config(channel_layer="test"), get_channel_layer("memory", {}))
    assert server.stop() is True
    started = time.monotonic()
    assert server.run() == 0
    assert time.monotonic() - started < 0.5 and server.ports == () and server.reply_prefix is None


# -- the drain ---------------------------------------------------------------------------------


class FakeConnection:
    """Joins the server's connection set; leaves it ``leave_after`` seconds after being told to go away."""

    def __init__(self, server: Server, leave_after: float | None, h2: bool = False, nudges_needed: int = 1) -> None:
        self.connections = server.ctx.connections
        self.leave_after = leave_after
        self.h2 = object() if h2 else None
        self.nudges_needed = nudges_needed
        self.going_away_calls = 0
        self.aborted = False
        self.left_at: float | None = None
        self.connections.add(self)

    def going_away(self) -> None:
        self.going_away_calls += 1
        if self.leave_after is not None and self.going_away_calls == self.nudges_needed:
            asyncio.get_running_loop().call_later(self.leave_after, self.leave)

    def leave(self) -> None:
        self.left_at = asyncio.get_running_loop().time()
        self.connections.discard(self)

    def abort(self) -> None:
        self.aborted = True
        self.connections.discard(self)


def drain(drain_timeout: float, *specs: dict) -> tuple[float, list[FakeConnection]]:
    """Seconds ``Server.drain()`` took with fake connections made from ``specs`` (``left_at`` relative to its end)."""
    config = Config(channel_layer="test", drain_timeout=drain_timeout)
    server = Server(config, get_channel_layer("memory", {}), MemoryReactorClock())

    async def main() -> tuple[float, list[FakeConnection]]:
        connections = [FakeConnection(server, **spec) for spec in specs]
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.drain().asFuture(loop)
        ended = loop.time()
        for conn in connections:
            if conn.left_at is not None:
                conn.left_at -= ended
        return ended - started, connections

    return asyncio.run(main())


def test_drain_ends_when_the_last_connection_closes():
    """The drain wakes as the last connection leaves (not on a poll tick) and tells HTTP/1 connections once."""
    taken, (first, last) = drain(30, {"leave_after": 0.1}, {"leave_after": 0.6})
    assert 0.6 <= taken < 1
    assert last.left_at is not None and -0.03 < last.left_at <= 0  # the drain ended right after it left
    assert (first.going_away_calls, last.going_away_calls) == (1, 1)  # no periodic re-telling without HTTP/2
    assert not first.aborted and not last.aborted


@pytest.mark.parametrize("nudges", [2, 3])
def test_drain_nudges_http2_connections_every_half_second(nudges):
    """An HTTP/2 connection that closes only when told again is told every 0.5 s until it does."""
    taken, [conn] = drain(30, {"leave_after": 0, "h2": True, "nudges_needed": nudges})
    assert conn.going_away_calls == nudges and not conn.aborted
    assert 0.5 * (nudges - 1) <= taken < 0.5 * (nudges - 1) + 0.1


def test_drain_timeout_aborts_what_is_left():
    """A connection still open at drain_timeout is aborted; one that left is not."""
    taken, (stays, leaves) = drain(0.4, {"leave_after": None}, {"leave_after": 0.05})
    assert 0.4 <= taken < 0.5
    assert stays.aborted and stays.going_away_calls == 1
    assert not leaves.aborted

"""The tests' own port handling (tests/support/processes.py) against real redis-server processes.

A port another process holds is the race every server start can lose; these tests make it lose on
purpose (the first port handed out is one a socket of the test holds) and check that the server is
started again on other ports and ends up listening on all of them itself.
"""

from __future__ import annotations

import itertools
import socket
import tempfile
from collections.abc import Iterator

import pytest

from tests.support import processes
from tests.support.processes import REDIS_SERVER, ManagedProcess, reported_port, retry_on_lost_port, start_server

pytestmark = pytest.mark.redis


@pytest.fixture(params=["listening", "bound"])
def taken(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port another socket holds: listening on it, or only bound (the server's bind() fails either way)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if request.param == "listening":
            sock.listen()
        yield sock.getsockname()[1]


def _first_try_on(monkeypatch: pytest.MonkeyPatch, port: int, index: int) -> None:
    """Make the first set of free ports start_server picks hold ``port`` at position ``index``."""
    pick = processes._free_ports
    calls = itertools.count()

    def rigged(count: int) -> list[int]:
        ports = pick(count)
        if next(calls) == 0:
            ports[index] = port
        return ports

    monkeypatch.setattr(processes, "_free_ports", rigged)


def _redis(port: int) -> list[str]:
    """A redis-server on ``port`` with a directory of its own and nothing saved."""
    directory = tempfile.mkdtemp(prefix="redis-ports-")
    return [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory]


@pytest.mark.parametrize("index", [0, 1], ids=["first-port", "second-port"])
def test_a_lost_port_of_several_is_retried_on_fresh_ones(monkeypatch, taken, index):
    """A server whose first try met a taken port (either of its two) is started again and listens on both."""
    _first_try_on(monkeypatch, taken, index)

    def argv(port: int, bus_port: int) -> list[str]:
        return [*_redis(port), "--cluster-enabled", "yes", "--cluster-port", str(bus_port)]

    server = start_server("redis-ports", argv, ports=2)
    try:
        assert taken not in server.ports and len(set(server.ports)) == 2
        for port in server.ports:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        assert server.port == server.ports[0]
    finally:
        server.stop()


def test_a_given_port_that_is_taken_is_not_retried(taken):
    """A restart on a known port has one try: the port stays what was asked, and the failure is raised."""
    with pytest.raises(RuntimeError):
        start_server("redis-ports", _redis, port=taken, timeout=5)


def test_retry_on_lost_port_stops_at_the_first_kept_port_or_after_the_attempts():
    """Attempts go on while the result says lost; the last result comes back when every attempt lost."""
    results = iter([1, 2, 3, 4, 5, 6])
    assert retry_on_lost_port(lambda: next(results), lambda result: result < 3) == 3
    tried = iter(range(10))
    assert retry_on_lost_port(lambda: next(tried), lambda result: True, attempts=4) == 3


def test_reported_port_is_read_from_the_metrics_line():
    """The port a process logs for its metrics endpoint is returned; a process that exits first raises."""
    talker = ManagedProcess("talker", ["sh", "-c", "echo 'Metrics on http://127.0.0.1:43210/metrics'; sleep 30"])
    try:
        assert reported_port(talker, timeout=10) == 43210
    finally:
        talker.stop()
    silent = ManagedProcess("silent", ["true"])
    with pytest.raises(RuntimeError, match="exited"):
        reported_port(silent, timeout=10)
    silent.stop()

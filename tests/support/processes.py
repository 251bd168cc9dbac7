"""Real processes for the tests and the benchmarks: redis-server, Sentinel, and any command, on free ports.

Every process is stopped by its pid (never by name), and its log is printed when a test fails
(``dump_logs``). A server is started with :func:`start_server`, which owns the one hard part: a free
port found by binding port 0 can be taken by another process before the server binds it, so the
server is watched until *it* listens there, and started again on a fresh port when it lost the race.
Nothing here mocks anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

_started: list[ManagedProcess] = []
T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on right now (another process may take it before you bind it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, host: str = "127.0.0.1", timeout: float = 10.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class ManagedProcess:
    """A child process with a log file; stopped by pid. ``pass_fds`` are inherited (e.g. for ``--fd``)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        pass_fds: Sequence[int] = (),
    ):
        self.name = name
        self.argv = list(argv)
        #: The TCP port it listens on, when started by :func:`start_server`.
        self.port: int | None = None
        #: Every port it listens on (``port`` first), when started by :func:`start_server`.
        self.ports: list[int] = []
        self.log_path = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
        _started.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send_signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 10.0, signum: int = signal.SIGTERM) -> int | None:
        if self.alive():
            os.kill(self.pid, signum)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        if self in _started:
            _started.remove(self)
        return self.popen.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # Also reachable as .signal(); defined last so the name does not shadow the module above.
    signal = send_signal


ADDRESS_IN_USE = "Address already in use"  # what redis-server, Twisted and gunicorn log on EADDRINUSE


class PortLost(RuntimeError):
    """The server's port was taken by another process before the server bound it."""


def start_server(
    name: str,
    argv: Callable[..., Sequence[str]],
    *,
    port: int | Sequence[int] | None = None,
    ports: int = 1,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    pass_fds: Sequence[int] = (),
    timeout: float = 10.0,
    attempts: int = 5,
    in_use: Sequence[str] = (ADDRESS_IN_USE,),
) -> ManagedProcess:
    """Start ``argv(port)`` and return it once it listens on ``port`` (as ``process.port``).

    The port is a fresh :func:`free_port` on each of ``attempts`` tries: a try is lost when another
    process listens there first or the server logs "Address already in use" (or another of the
    ``in_use`` texts), and the server is then stopped and started again. A given ``port`` (a restart
    on a known port) has one try. When the server exits or does not listen within ``timeout`` it is
    stopped by pid and the error carries its log.

    A server with more than one port (a metrics port, a cluster bus, a distribution port) takes
    ``ports`` distinct free ports, ``argv(port, *others)``, must listen on every one of them, and
    keeps them as ``process.ports``; a restart gives them all as ``port``.
    """
    given = [port] if isinstance(port, int) else list(port or [])
    tries = 1 if given else attempts
    for _ in range(tries):
        chosen = given or _free_ports(ports)
        process = ManagedProcess(name, argv(*chosen), env=env, cwd=cwd, pass_fds=pass_fds)
        process.port, process.ports = chosen[0], chosen
        try:
            _await_ports(process, chosen, timeout, in_use)
            return process
        except PortLost:
            process.stop(signum=signal.SIGKILL)
        except RuntimeError as exc:
            process.stop(signum=signal.SIGKILL)
            raise RuntimeError(f"{exc}\n----- log of {name} -----\n{process.log()[-5000:]}") from None
    raise PortLost(f"{name}: its port was taken before it could bind it, {tries} time(s)")


def retry_on_lost_port(attempt: Callable[[], T], lost: Callable[[T], bool], attempts: int = 5) -> T:
    """``attempt()`` again while ``lost(result)`` says another process took the port it picked.

    For a program that picks its own port and cannot be started by :func:`start_server` (a script
    that starts its servers itself); the last result is returned either way, for the caller's asserts.
    """
    for _ in range(attempts - 1):
        result = attempt()
        if not lost(result):
            return result
    return attempt()


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on right now (all held at once, so none repeats)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _await_ports(process: ManagedProcess, ports: Sequence[int], timeout: float, in_use: Sequence[str]) -> None:
    """Until ``process`` (or a child of it) listens on every one of ``ports``; :class:`PortLost` if another
    process listens on one of them or the log says one was in use."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while True:
        listening = {port: _listening_inodes(port) for port in waiting}
        # Read after the listeners: a socket listening by then is already in the process's fd table.
        owned = _socket_inodes(descendants(process.pid))
        for port, listeners in listening.items():
            if listeners & owned:
                waiting.remove(port)
            elif listeners:
                raise PortLost(f"{process.name}: port {port} was taken")
        if not waiting:
            return
        if any(text in process.log() for text in in_use):
            raise PortLost(f"{process.name}: one of the ports {list(ports)} was in use")
        if not process.alive():
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode} before listening on {waiting}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} was not listening on {waiting} after {timeout} s")
        time.sleep(0.02)


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets (IPv4 and IPv6) listening on ``port``, from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes


def _socket_inodes(pids: Iterable[int]) -> set[str]:
    """Inodes of the sockets the processes ``pids`` hold open."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (gunicorn's and uvicorn's workers), from /proc children lists."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    queue += [int(child) for child in children.read().split()]
        except OSError:
            continue
    return found


def wait_for_log(process: ManagedProcess, text: str, timeout: float = 20.0) -> None:
    """Until ``text`` appears in the process's log; raises with the log if it exits or times out first."""
    _await_log(process, re.escape(text), timeout)


#: The line daphne, runworker and ``python -m channellayer status`` log for ``--metrics-port``; group 1 is the port.
METRICS_LINE = r"[Mm]etrics on http://[\w.]+:(\d+)/metrics"


def reported_port(process: ManagedProcess, pattern: str = METRICS_LINE, timeout: float = 20.0) -> int:
    """The port a server told to bind port 0 says it got: group 1 of ``pattern`` in its log (no race to lose)."""
    return int(_await_log(process, pattern, timeout).group(1))


def _await_log(process: ManagedProcess, pattern: str, timeout: float) -> re.Match[str]:
    """The first match of ``pattern`` in the process's log; raises with the log if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while (found := re.search(pattern, process.log())) is None:
        if not process.alive() or time.monotonic() > deadline:
            state = f"exited with {process.popen.returncode}" if not process.alive() else f"silent for {timeout} s"
            raise RuntimeError(f"{process.name} {state} before logging {pattern!r}:\n{process.log()[-3000:]}")
        time.sleep(0.05)
    return found


def wait_http_ok(url: str, processes: Iterable[ManagedProcess] = (), timeout: float = 60.0) -> None:
    """Until a GET of ``url`` answers 200; raises at once if one of ``processes`` exits meanwhile."""
    watched = list(processes)
    deadline = time.monotonic() + timeout
    while True:
        for process in watched:
            if not process.alive():
                raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.log()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.1)


def dump_logs(file=sys.stderr, include_redis: bool = False) -> None:
    """Print the tail of every running child's log (redis-server's only when asked: it is noise)."""
    for process in list(_started):
        if process.name.startswith(("redis-", "sentinel")) and not include_redis:
            continue
        print(f"----- log of {process.name} (pid {process.pid}) -----", file=file)
        print(process.log()[-20000:], file=file)


def stop_all() -> None:
    for process in list(_started):
        process.stop()


class RedisServer:
    """A redis-server on a free port (or a given one), with nothing kept on disk.

    ``second_port`` names an option that takes a second free port of its own, ``self.second_port``:
    ``"--tls-port"`` for a TLS listener beside the plain one. ``cluster=True`` makes it a Redis Cluster
    node (``nodes.conf`` in its own directory) whose cluster bus listens on such a second port,
    ``bus_port`` (``--cluster-port``), not on ``port`` + 10000.
    """

    def __init__(
        self,
        port: int | None = None,
        extra: Sequence[str] = (),
        cluster: bool = False,
        second_port: str | None = None,
    ):
        self.port = port or 0
        self.second_port = 0
        self.cluster = cluster
        self.second_port_option = "--cluster-port" if cluster else second_port
        self.dir = tempfile.mkdtemp(prefix="redis-")
        self.extra = list(extra)
        self.process: ManagedProcess | None = None
        self.start()

    @property
    def bus_port(self) -> int:
        """The cluster bus port of a ``cluster=True`` node."""
        return self.second_port

    def start(self) -> None:
        """Start it: on fresh free ports the first time, on the same ports again after :meth:`stop`."""
        option = self.second_port_option

        def argv(port: int, second: int | None = None) -> list[str]:
            node = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"] if self.cluster else []
            return [
                REDIS_SERVER,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *node,
                *([option, str(second)] if option is not None else []),
                *self.extra,
            ]

        known = [self.port, self.second_port] if option else [self.port]
        self.process = start_server("redis-server", argv, port=known if self.port else None, ports=2 if option else 1)
        self.port = self.process.port or self.port
        if option:
            self.second_port = self.process.ports[1]
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except (redis.AuthenticationError, redis.ResponseError):
                return  # it answered: it is up, and wants a password
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(signum=signal.SIGKILL)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Sentinel:
    """One redis-server in Sentinel mode watching ``master_name`` at ``master``."""

    def __init__(self, master: RedisServer, master_name: str = "mymaster", quorum: int = 1):
        self.dir = tempfile.mkdtemp(prefix="sentinel-")
        config = Path(self.dir) / "sentinel.conf"
        config.write_text(
            f"bind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {master_name} 127.0.0.1 {master.port} {quorum}\n"
            f"sentinel down-after-milliseconds {master_name} 1000\n"
            f"sentinel failover-timeout {master_name} 5000\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )
        self.process = start_server(
            "sentinel", lambda port: [REDIS_SERVER, str(config), "--sentinel", "--port", str(port)]
        )
        self.port: int = self.process.port or 0

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> None:
        self.process.stop(signum=signal.SIGKILL)


@contextlib.contextmanager
def redis_servers(count: int) -> Iterator[list[RedisServer]]:
    servers = [RedisServer() for _ in range(count)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()

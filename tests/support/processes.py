"""Real processes for the tests: redis-server, Sentinel, and any command, started on free ports.

Every process is stopped by its pid (never by name), and its log is printed when a test fails
(``dump_logs``). Nothing here mocks anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

_started: list[ManagedProcess] = []


def free_port() -> int:
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
    """A child process with a log file; stopped by pid."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
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


def dump_logs(file=sys.stderr, include_redis: bool = False) -> None:
    """Print the tail of every running child's log (redis-server's only when asked: it is noise)."""
    for process in list(_started):
        if process.name.startswith(("redis-", "sentinel-")) and not include_redis:
            continue
        print(f"----- log of {process.name} (pid {process.pid}) -----", file=file)
        print(process.log()[-20000:], file=file)


def stop_all() -> None:
    for process in list(_started):
        process.stop()


class RedisServer:
    """A redis-server on a free port (or a given one), with nothing kept on disk."""

    def __init__(self, port: int | None = None, extra: Sequence[str] = ()):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-")
        self.extra = list(extra)
        self.process: ManagedProcess | None = None
        self.start()

    def start(self) -> None:
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            *self.extra,
        ]
        self.process = ManagedProcess(f"redis-{self.port}", argv)
        wait_for_port(self.port, process=self.process.popen)
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
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sentinel-")
        config = Path(self.dir) / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {master_name} 127.0.0.1 {master.port} {quorum}\n"
            f"sentinel down-after-milliseconds {master_name} 1000\n"
            f"sentinel failover-timeout {master_name} 5000\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )
        self.process = ManagedProcess(f"sentinel-{self.port}", [REDIS_SERVER, str(config), "--sentinel"])
        wait_for_port(self.port, process=self.process.popen)

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

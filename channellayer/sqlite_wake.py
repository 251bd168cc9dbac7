"""Wake-up sockets of the SQLite channel layer: how a blocked receiver sleeps and a sender wakes it.

Theory of operation
-------------------
A blocked receive binds a UNIX datagram socket of its own (:class:`Waiter`) in the layer's wake
directory and records its address in the database; a sender that wrote to a list reads the
addresses waiting on it and sends each a one-byte datagram (:class:`Waker`). Datagrams rather than
a FIFO or a lock file: no reader has to be open first, a non-blocking send never stalls (a full
queue already means "wake up"), the addresses sit beside the database (containers sharing the
volume wake each other), and a dead waiter shows itself (``ECONNREFUSED`` / ``ENOENT``) so its row
can be deleted. :func:`is_dead` tells the same by ``connect()``, which sends nothing, so the
periodic clean-up can test a waiter without waking it.

The directory is ``<path>.wake/`` beside the database, or ``<tmp>/channellayer-<uid>-<digest>``
when that path would not fit in a socket address (``sun_path`` holds 108 bytes on Linux, 104 on
macOS). It is created with the process umask, like the database file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import tempfile
import threading

__all__ = ["Waiter", "WaiterPool", "Waker", "is_dead", "wake_directory"]

_MAX_SOCKET_PATH = 100
_NAME_LENGTH = 20  # "<pid>-<12 hex>" fits for every pid


def wake_directory(path: str) -> str:
    """The directory holding the wake-up sockets of the database at ``path`` (see the module docstring)."""
    directory = path + ".wake"
    if len(os.fsencode(directory)) + _NAME_LENGTH > _MAX_SOCKET_PATH:
        digest = hashlib.sha256(path.encode()).hexdigest()[:16]
        directory = os.path.join(tempfile.gettempdir(), f"channellayer-{os.getuid()}-{digest}")
    return directory


class Waiter:
    """One blocked receive's wake-up socket, bound in ``directory`` (raises OSError if it cannot be)."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.address = os.path.join(directory, f"{os.getpid()}-{secrets.token_hex(6)}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.bind(self.address)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def wait(self, timeout: float) -> None:
        """Sleep until a wake-up arrives or ``timeout`` seconds pass, then discard queued wake-ups."""
        self.sock.settimeout(timeout)
        with contextlib.suppress(TimeoutError):
            self.sock.recv(64)
        self.drain()

    def drain(self) -> None:
        """Discard queued wake-ups: one pop attempt answers all of them."""
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                self.sock.recv(64)

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)


def is_dead(address: str) -> bool:
    """True if no process reads the socket at ``address`` any more (nothing is sent to a live one)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return True
        except OSError:
            return False  # e.g. permission denied: someone else's, and not ours to judge
    return False


class Waker:
    """Sends wake-ups from one process; one non-blocking socket shared by the process's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: tuple[int, socket.socket] | None = None

    def wake(self, addresses: list[str]) -> list[str]:
        """Send a wake-up to each address; return the addresses whose reader is gone."""
        with self._lock:
            if self._sock is None or self._sock[0] != os.getpid():  # a forked child gets its own
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)  # a full queue already holds a wake-up: never wait for room
                self._sock = (os.getpid(), sock)
            sock = self._sock[1]
        dead = []
        for address in addresses:
            try:
                sock.sendto(b"!", address)
            except (BlockingIOError, PermissionError):
                continue
            except (ConnectionRefusedError, FileNotFoundError):
                dead.append(address)  # its process died without unregistering
        return dead

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock[1].close()
                self._sock = None


class WaiterPool:
    """Idle, still-registered waiters kept for the next blocking receive on the same channels.

    A receive loop (an interface server's reply reader, a worker) asks for the same channels again
    and again; keeping its socket bound and its rows in ``waiters`` between calls saves a socket,
    a bind and two write transactions per message. Wake-ups that arrive while it is idle queue in
    the socket and are drained before the next pop, so none is lost and none is acted on twice.
    The pool never touches the database: a waiter it refuses (``put`` is False) or gives back on
    :meth:`close` is the caller's to unregister.
    """

    def __init__(self, per_key: int = 2, total: int = 16) -> None:
        self._per_key = per_key
        self._total = total
        self._lock = threading.Lock()
        self._idle: dict[object, list[Waiter]] = {}
        self._pid = os.getpid()

    def take(self, key: object) -> Waiter | None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's sockets
                self._idle, self._pid = {}, os.getpid()
            waiters = self._idle.get(key)
            return waiters.pop() if waiters else None

    def put(self, key: object, waiter: Waiter) -> bool:
        """Keep ``waiter`` for the next receive on ``key``; False if the pool is full."""
        with self._lock:
            waiters = self._idle.setdefault(key, [])
            if len(waiters) >= self._per_key or sum(map(len, self._idle.values())) >= self._total:
                return False
            if self._pid != os.getpid():
                return False
            waiters.append(waiter)
            return True

    def close(self) -> list[Waiter]:
        """Empty the pool; return the waiters it held."""
        with self._lock:
            idle, self._idle = self._idle, {}
        return [waiter for waiters in idle.values() for waiter in waiters]

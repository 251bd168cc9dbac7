"""SQLite channel layer: the embedded default for several processes (and threads) on one machine.

Theory of operation
-------------------
All processes open one database file in WAL mode, one connection per thread. A message is a row
``(id, channel, sent, expires, payload)`` keyed by its list name (``prefix!`` for a process-specific
channel). Every write is one ``BEGIN IMMEDIATE`` transaction, so the capacity check and the insert
are one step, and a pop (``DELETE … RETURNING`` of the oldest live row over the channels asked
for) is won by exactly one reader: at-most-once delivery. Expired rows are invisible at once and
deleted by a sweep, at most every ``SWEEP_INTERVAL`` seconds per process, inside a write it was
making anyway; group memberships are rows stamped with their add time and expire the same way.

Blocking receive does not poll. A receiver that finds nothing binds a UNIX datagram socket of its
own (in ``<path>.wake/``, or a private temporary directory when that would not fit in a socket
address) and, *in the transaction of its failed pop*, records the address in ``waiters`` against
each channel it waits on; then it sleeps in ``recv`` (``loop.add_reader`` for ``receive_async``),
bounded by ``blocking_timeout``. A sender reads the waiters of the lists it wrote to inside its own
transaction and, after committing, sends each a one-byte datagram. The write lock serialises the
two transactions: either the sender sees the registration or the receiver's pop sees the message,
so no wake-up is lost (a datagram sent before the receiver sleeps waits in its socket). The kernel
wakes the receiver in microseconds; an idle one costs no CPU. Datagrams rather than a FIFO or a
lock file: no reader has to be open first, a non-blocking send never stalls (a full queue already
means "wake up"), addresses sit beside the database (containers sharing the volume wake each
other), and a dead waiter shows itself to the send (``ECONNREFUSED``/``ENOENT``), which deletes its
row. Every waiter on a list is woken; the losers only peek (a WAL read takes no lock) and sleep.

``receive_async`` is native and parks no thread; its pop runs on the loop thread (a sub-millisecond
transaction), so a cancelled receive can never lose a message it had already popped. sqlite3 and
socket errors become :class:`BackendUnavailable` here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from .base import BaseChannelLayer, Prepared, Received
from .errors import BackendUnavailable, ChannelFull

__all__ = ["SQLiteChannelLayer"]

T = TypeVar("T")
Popped = tuple[str, bytes] | None

GLOBAL_STATS_NAME = "#global#"  # not a valid channel name, so it never collides with one
SWEEP_INTERVAL = 5.0
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
    sent REAL NOT NULL, expires REAL NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel, id);
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT NOT NULL, channel TEXT NOT NULL, added REAL NOT NULL,
    PRIMARY KEY (name, channel)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS waiters (
    channel TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (channel, address)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats (
    name TEXT PRIMARY KEY, messages_count INTEGER NOT NULL, channel_full_count INTEGER NOT NULL);
"""

_COUNT_STATS = (
    "INSERT INTO stats VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
    "messages_count = messages_count + excluded.messages_count, "
    "channel_full_count = channel_full_count + excluded.channel_full_count"
)


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` is SQLITE_BUSY (another connection holds the lock)."""
    # exc.sqlite_errorcode and sqlite3.SQLITE_BUSY exist from Python 3.11; 3.10 has only the message.
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code == 5)
    return str(exc).startswith("database is locked")


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


class _Waiter:
    """One blocked receive's wake-up socket."""

    def __init__(self, directory: str) -> None:
        self.address = os.path.join(directory, f"{os.getpid()}-{secrets.token_hex(6)}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.bind(self.address)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    def wait(self, timeout: float) -> None:
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


class SQLiteChannelLayer(BaseChannelLayer):
    """ASGI 1 layer in one SQLite file shared by every process on the machine."""

    #: Seconds a statement waits for another process's write lock before BackendUnavailable.
    busy_timeout: float = 5.0

    def __init__(self, path: str | os.PathLike[str] | None = None, **options: Any) -> None:
        super().__init__(**options)
        if path is None:
            raise TypeError("SQLiteChannelLayer needs the 'path' option: the database file all processes share")
        if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
            raise TypeError(f"path must be a str or os.PathLike naming a file, not {type(path).__name__}")
        raw = os.fspath(path)
        if not raw or raw == ":memory:" or raw.startswith("file:"):
            raise ValueError(f"path must name a database file that several processes can open, not {raw!r}")
        self.path = os.path.abspath(raw)
        if os.path.isdir(self.path):
            raise ValueError(f"path {self.path!r} is a directory; name a database file inside it")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._sender: tuple[int, socket.socket] | None = None
        self._next_sweep = 0.0
        self._connection()  # fail now, not on first use, when the file cannot be opened

    def __repr__(self) -> str:
        return f"<SQLiteChannelLayer path={self.path!r}>"

    # -- connections and transactions ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a forked child must not reuse its parent's
            conn = None
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
                )
                self._enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")  # messages are transient: no fsync per commit
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                raise BackendUnavailable(f"cannot open the SQLite channel layer at {self.path!r}: {exc}") from exc
            with self._lock:
                self._connections.append(conn)
            local.conn, local.pid = conn, os.getpid()
        result: sqlite3.Connection = local.conn
        return result

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL takes an exclusive lock without calling the busy handler, so
        # processes starting together on a fresh file retry here; it happens once per file.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _transaction(self, work: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run ``work`` in one transaction (``BEGIN IMMEDIATE`` for writes), converting sqlite3 errors."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                if write and time.monotonic() >= self._next_sweep:
                    self._sweep(conn)
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"SQLite channel layer at {self.path!r}: {exc}") from exc
        return result

    def _sweep(self, conn: sqlite3.Connection) -> None:
        now = time.time()
        conn.execute("DELETE FROM messages WHERE expires <= ?", (now,))
        conn.execute("DELETE FROM groups WHERE added <= ?", (now - self.group_expiry,))
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL

    # -- sending ---------------------------------------------------------------------------

    def _insert(self, conn: sqlite3.Connection, target: str, payloads: list[bytes], capacity: int) -> bool:
        """Append ``payloads`` to ``target`` if it has fewer than ``capacity`` live messages."""
        now = time.time()
        # Counting stops at ``capacity``: a list that grew past it (group sends) costs no more.
        query = "SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel = ? AND expires > ? LIMIT ?)"
        full = conn.execute(query, (target, now, capacity)).fetchone()[0] >= capacity
        if not full:
            expires = now + self.expiry
            conn.executemany(
                "INSERT INTO messages (channel, sent, expires, payload) VALUES (?, ?, ?, ?)",
                [(target, now, expires, payload) for payload in payloads],
            )
        counts = (0, 1) if full else (len(payloads), 0)
        conn.executemany(_COUNT_STATS, [(target, *counts), (GLOBAL_STATS_NAME, *counts)])
        return not full

    def _send_rows(self, rows: list[tuple[str, list[bytes], int]]) -> list[bool]:
        """Insert each ``(target, payloads, capacity)`` in one transaction, then wake its waiters."""

        def work(conn: sqlite3.Connection) -> tuple[list[bool], list[str]]:
            delivered = [self._insert(conn, target, payloads, capacity) for target, payloads, capacity in rows]
            targets = list({row[0] for row, ok in zip(rows, delivered, strict=True) if ok})
            query = f"SELECT DISTINCT address FROM waiters WHERE channel IN ({_marks(targets)})"
            return delivered, [address for (address,) in conn.execute(query, targets)]

        delivered, addresses = self._transaction(work)
        if addresses:
            self._wake(addresses)
        return delivered

    def _wake(self, addresses: list[str]) -> None:
        with self._lock:
            if self._sender is None or self._sender[0] != os.getpid():
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)  # a full queue already holds a wake-up: never wait for room
                self._sender = (os.getpid(), sender)
            sender = self._sender[1]
        dead = []
        for address in addresses:
            try:
                sender.sendto(b"!", address)
            except (BlockingIOError, PermissionError):
                continue
            except (ConnectionRefusedError, FileNotFoundError):
                dead.append(address)  # its process died without unregistering
        if dead:
            with contextlib.suppress(BackendUnavailable):  # the next sender retries the clean-up
                self._transaction(lambda c: c.execute(f"DELETE FROM waiters WHERE address IN ({_marks(dead)})", dead))
            for address in dead:
                with contextlib.suppress(OSError):
                    os.unlink(address)

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        if not self._send_rows([(target, [payload], capacity)])[0]:
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        return self._send_rows([(target, [payload], capacity) for target, payload, capacity in prepared])

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        rows = [(target, payloads, capacity) for target, (capacity, payloads) in batches.items()]
        return sum(len(row[1]) for row, ok in zip(rows, self._send_rows(rows), strict=True) if ok)

    # -- receiving -------------------------------------------------------------------------

    @staticmethod
    def _oldest(conn: sqlite3.Connection, names: list[str]) -> int | None:
        now = time.time()
        query = "SELECT id FROM messages WHERE channel = ? AND expires > ? ORDER BY id LIMIT 1"
        heads = [row[0] for name in names for row in conn.execute(query, (name, now))]
        return min(heads, default=None)

    def _pop_once(self, names: list[str], waiter: _Waiter | None = None, registered: bool = False) -> Popped:
        """Pop the oldest live message on ``names``; if there is none, register ``waiter`` for them."""
        # A registered waiter peeks first, so the losers of a race do not queue for the write lock.
        if registered and self._transaction(lambda c: self._oldest(c, names), write=False) is None:
            return None

        def work(conn: sqlite3.Connection) -> Popped:
            oldest = self._oldest(conn, names)
            if oldest is not None:
                channel, payload = conn.execute(
                    "DELETE FROM messages WHERE id = ? RETURNING channel, payload", (oldest,)
                ).fetchone()
                return channel, payload
            if waiter is not None and not registered:
                conn.executemany("INSERT OR IGNORE INTO waiters VALUES (?, ?)", [(n, waiter.address) for n in names])
            return None

        return self._transaction(work)

    @contextlib.contextmanager
    def _waiting(self) -> Iterator[_Waiter]:
        directory = self.path + ".wake"
        if len(os.fsencode(directory)) + 20 > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(self.path.encode()).hexdigest()[:16]
            directory = os.path.join(tempfile.gettempdir(), f"channellayer-{os.getuid()}-{digest}")
        try:
            os.makedirs(directory, exist_ok=True)
            waiter = _Waiter(directory)
        except OSError as exc:
            raise BackendUnavailable(f"cannot create a wake-up socket in {directory!r}: {exc}") from exc
        try:
            yield waiter
        finally:
            # A row left behind (database unavailable now) is deleted by the next sender to try it.
            with contextlib.suppress(BackendUnavailable):
                self._transaction(lambda c: c.execute("DELETE FROM waiters WHERE address = ?", (waiter.address,)))
            waiter.close()

    def _pop(self, names: list[str], block: bool) -> Popped:
        popped = self._pop_once(names, None)
        if popped is not None or not block:
            return popped
        deadline = time.monotonic() + self.blocking_timeout
        with self._waiting() as waiter:
            registered = False
            while (remaining := deadline - time.monotonic()) > 0:
                popped = self._pop_once(names, waiter, registered)
                if popped is not None:
                    return popped
                registered = True
                waiter.wait(remaining)
        return None

    async def receive_async(self, channels: Sequence[str]) -> Received:
        """Blocking receive as a coroutine: waits on the wake-up socket in the event loop, no thread."""
        names = self._receive_names(channels)
        popped = self._pop_once(names, None)
        if popped is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.blocking_timeout
            with self._waiting() as waiter:
                registered = False
                while popped is None and (remaining := deadline - loop.time()) > 0:
                    popped = self._pop_once(names, waiter, registered)
                    if popped is None:
                        registered = True
                        await self._readable(loop, waiter, remaining)
        return self._decode(popped)

    @staticmethod
    async def _readable(loop: asyncio.AbstractEventLoop, waiter: _Waiter, timeout: float) -> None:
        ready = loop.create_future()
        fd = waiter.sock.fileno()

        def readable() -> None:
            if not ready.done():  # the reader may fire again before it is removed
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            with contextlib.suppress(asyncio.TimeoutError):  # not the builtin TimeoutError on 3.10
                await asyncio.wait_for(ready, timeout)
        finally:
            loop.remove_reader(fd)
        waiter.drain()

    def _exists(self, name: str) -> bool:
        return self._transaction(lambda c: self._oldest(c, [name]), write=False) is not None

    # -- groups ----------------------------------------------------------------------------

    def _group_add(self, group: str, channel: str) -> None:
        row = (group, channel, time.time())
        self._transaction(lambda c: c.execute("INSERT OR REPLACE INTO groups VALUES (?, ?, ?)", row))

    def _group_discard(self, group: str, channel: str) -> None:
        self._transaction(lambda c: c.execute("DELETE FROM groups WHERE name = ? AND channel = ?", (group, channel)))

    def _group_members(self, group: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            query = "SELECT channel FROM groups WHERE name = ? AND added > ? ORDER BY added"
            return [row[0] for row in conn.execute(query, (group, time.time() - self.group_expiry))]

        return self._transaction(work, write=False)

    # -- flush / statistics / lifecycle ----------------------------------------------------

    def _flush(self) -> None:
        # Waiters stay: they are receivers blocked right now, in this or other processes.
        def work(conn: sqlite3.Connection) -> None:
            for table in ("messages", "groups", "stats"):
                conn.execute(f"DELETE FROM {table}")

        self._transaction(work)

    @staticmethod
    def _counters(conn: sqlite3.Connection, name: str) -> dict[str, int]:
        row = conn.execute("SELECT messages_count, channel_full_count FROM stats WHERE name = ?", (name,)).fetchone()
        return dict(zip(("messages_count", "channel_full_count"), row or (0, 0), strict=True))

    def _global_statistics(self) -> dict[str, int]:
        return self._transaction(lambda c: self._counters(c, GLOBAL_STATS_NAME), write=False)

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        def work(conn: sqlite3.Connection) -> dict[str, int | float]:
            now = time.time()
            stats: dict[str, int | float] = {**self._counters(conn, target)}
            pending, oldest = conn.execute(
                "SELECT count(*), min(sent) FROM messages WHERE channel = ? AND expires > ?", (target, now)
            ).fetchone()
            stats["messages_pending"] = pending
            if pending:
                stats["messages_max_age"] = max(0.0, now - oldest)
            return stats

        return self._transaction(work, write=False)

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        if self._sender is not None:
            self._sender[1].close()
            self._sender = None
        self._local = threading.local()

"""The database file of the SQLite channel layer: schema, connections, transactions and upkeep.

Theory of operation
-------------------
Every process opens the file in WAL mode, one connection per thread (a forked child opens its
own). Writes are ``BEGIN IMMEDIATE`` transactions, so a check and the write that depends on it are
one step, and readers never wait for writers. Messages are transient, so ``synchronous=NORMAL``:
a commit is atomic and survives the death of any process (SIGKILL included: an interrupted
transaction is rolled back by the next opener), though not a power cut.

Staying bounded on disk without a full scan on the hot path:

* **Sweep** — a write transaction at most every ``SWEEP_INTERVAL`` seconds per process deletes at
  most ``SWEEP_BATCH`` expired messages (index on ``expires``), memberships older than
  ``group_expiry`` (index on ``added``), and per-channel counters untouched for ``STATS_EXPIRY``
  seconds (a rotating window over the table, so a send pays no extra index). When a batch was
  full the next write sweeps again.
* **Idle upkeep** (:meth:`Store.upkeep`) — run by a receive that waited its whole timeout for
  nothing, at most every ``UPKEEP_INTERVAL`` seconds per process (jittered; ``UPKEEP_RETRY`` after
  a step another process blocked), never waiting for a lock (busy means someone is working): the
  sweep, waiter rows whose socket is dead (tested with ``connect``, which wakes no one), ``PRAGMA
  incremental_vacuum`` to give freed pages back to the file system, and ``PRAGMA
  wal_checkpoint(TRUNCATE)`` to empty the WAL.
* While busy, freed pages are reused, and every process checks the WAL after its writes (every
  ``WAL_CHECK_INTERVAL``) and restarts it once past ``JOURNAL_SIZE_LIMIT`` (:meth:`_limit_wal`).

sqlite3 errors become :class:`BackendUnavailable` here, naming the path, with a hint for the
errors a deployment can cause (read-only file or directory, full disk).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import BackendUnavailable
from .retry import Attempts, Backoff
from .sqlite_wake import is_dead

__all__ = ["GLOBAL_STATS_NAME", "Store", "WouldWait"]

T = TypeVar("T")

#: Waiting for SQLite's write lock: 0.1 ms doubling to 2 ms (a writer holds it for well under a
#: millisecond; SQLite's own busy handler sleeps up to 100 ms and starves a waiter under a flood).
LOCK_POLL = Backoff(initial=0.0001, factor=2.0, maximum=0.002, jitter=0.0)

GLOBAL_STATS_NAME = "#global#"  # not a valid channel name, so it never collides with one
SCHEMA_VERSION = 2
SWEEP_INTERVAL = 5.0
SWEEP_BATCH = 1000
STATS_EXPIRY = 3600.0  # as asgi_redis's per-channel counters (TTL 3600)
UPKEEP_INTERVAL = 30.0
UPKEEP_RETRY = 2.0  # after an upkeep step another process blocked
UPKEEP_VACUUM_PAGES = 4096  # 16 MiB of 4 KiB pages given back per upkeep at most
UPKEEP_WAITER_PROBES = 64
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
WAL_CHECK_INTERVAL = 0.2
UPKEEP_SWEEPS = 20  # batches one upkeep may delete, each its own short transaction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL,
    sent REAL NOT NULL, expires REAL NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel, id);
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT NOT NULL, channel TEXT NOT NULL, added REAL NOT NULL,
    PRIMARY KEY (name, channel)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS groups_by_added ON groups (added);
CREATE TABLE IF NOT EXISTS waiters (
    channel TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (channel, address)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats (
    name TEXT PRIMARY KEY, messages_count INTEGER NOT NULL, channel_full_count INTEGER NOT NULL,
    updated REAL NOT NULL DEFAULT 0);
"""

_HINTS = {
    "readonly": "the file or its directory is read-only; every process needs write access to both",
    "unable to open": "the directory must exist and be writable: SQLite creates <path>-wal and <path>-shm beside it",
    "disk is full": "the disk holding it is full; the layer works again as soon as there is room",
    "disk I/O error": "the file system reported an I/O error (full, read-only or failing)",
}


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (Python 3.10 has no ``sqlite_errorcode``; its message says it)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (5, 6) if code is not None else "locked" in str(exc)


def explain(path: str, exc: sqlite3.Error, opening: bool = False) -> BackendUnavailable:
    """The BackendUnavailable for ``exc``: names the path, and says what to do where we know."""
    text = str(exc)
    hint = next((hint for key, hint in _HINTS.items() if key in text), None)
    if hint is None or "unable to open" in text:
        with contextlib.suppress(OSError):
            if os.statvfs(os.path.dirname(path)).f_flag & os.ST_RDONLY:
                hint = "it is on a read-only file system; every process needs write access to it and its directory"
    what = f"cannot open the SQLite channel layer at {path!r}" if opening else f"SQLite channel layer at {path!r}"
    return BackendUnavailable(f"{what}: {text}" + (f" ({hint})" if hint else ""))


class WouldWait(BackendUnavailable):
    """In instant mode: the statement would have had to wait for another connection's lock (nothing was done)."""


class Store:
    """One database file: per-thread connections, transactions, the sweep and idle upkeep."""

    def __init__(
        self,
        path: str,
        busy_timeout: float,
        group_expiry: float,
        upkeep_interval: float = UPKEEP_INTERVAL,
        stats_expiry: float = STATS_EXPIRY,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.group_expiry = group_expiry
        self.upkeep_interval = upkeep_interval
        self.stats_expiry = stats_expiry
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._next_sweep = 0.0
        self._next_upkeep = time.monotonic() + upkeep_interval
        self._next_wal_check = 0.0
        self._stats_cursor = 0
        self._waiter_cursor = ("", "")

    # -- connections -----------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use; a forked child never reuses its parent's).

        Every connection has ``busy_timeout`` 0: :meth:`_retry` does the waiting. In :meth:`instant`
        mode it is a second connection of the thread that never retries and never checkpoints (so
        never calls fsync).
        """
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.conn, local.instant_conn, local.pid = self._open(instant=False), None, os.getpid()
        if getattr(local, "instant", False):
            if local.instant_conn is None:
                local.instant_conn = self._open(instant=True)
            instant: sqlite3.Connection = local.instant_conn
            return instant
        result: sqlite3.Connection = local.conn
        return result

    def _open(self, instant: bool) -> sqlite3.Connection:
        conn = None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
            self._prepare(conn)
            # SQLite's own busy handler sleeps up to 100 ms between tries, so under steady contention
            # a waiter can miss every free moment for seconds; _retry polls every 2 ms at most instead.
            conn.execute("PRAGMA busy_timeout = 0")
            if instant:
                conn.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise explain(self.path, exc, opening=True) from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def instant(self) -> Iterator[None]:
        """Within this block the thread's statements never wait: one that would raises WouldWait."""
        local = self._local
        previous = getattr(local, "instant", False)
        local.instant = True
        try:
            yield
        finally:
            local.instant = previous

    def _retry(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` again while SQLITE_BUSY, polling at most every 2 ms, for up to ``busy_timeout``.

        ``attempt`` must do nothing when it fails busy (a BEGIN IMMEDIATE, one autocommit statement).
        In instant mode there is no second try: WouldWait is raised at once.
        """
        attempts: Attempts | None = None
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or getattr(self._local, "instant", False):
                    raise
                if attempts is None:
                    attempts = LOCK_POLL.attempts(deadline=time.monotonic() + self.busy_timeout)
                delay = attempts.next_delay()
                if delay is None:
                    raise
                time.sleep(delay)

    def _failed(self, exc: sqlite3.Error) -> BackendUnavailable:
        if getattr(self._local, "instant", False) and _busy(exc):
            return WouldWait(f"SQLite channel layer at {self.path!r}: busy")
        return explain(self.path, exc)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # Only on a new file: pages freed by deletes go back to the file system on upkeep.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        self._enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")  # atomic and crash-safe; no fsync per commit
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            try:
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
                conn.execute("BEGIN IMMEDIATE")
                columns = {row[1] for row in conn.execute("PRAGMA table_info(stats)")}
                if "updated" not in columns:  # a file made by the first version of this layer
                    conn.execute("ALTER TABLE stats ADD COLUMN updated REAL NOT NULL DEFAULT 0")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL takes an exclusive lock without calling the busy handler, so
        # processes starting together on a fresh file retry here; it happens once per file.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # -- transactions ----------------------------------------------------------------------

    def transaction(self, work: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run ``work`` in one transaction (``BEGIN IMMEDIATE`` for writes), converting sqlite3 errors."""
        conn = self.connection()
        upkeep = write and not getattr(self._local, "instant", False)  # instant mode leaves it to others
        try:
            self._retry(lambda: conn.execute("BEGIN IMMEDIATE" if write else "BEGIN"))
            try:
                if upkeep and time.monotonic() >= self._next_sweep:
                    self._sweep(conn)
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        if upkeep and time.monotonic() >= self._next_wal_check:
            self._limit_wal(conn)
        return result

    def _limit_wal(self, conn: sqlite3.Connection) -> None:
        """Restart a WAL grown past the limit: under constant load the auto-checkpoint never can.

        A PASSIVE checkpoint stops at the oldest frame a reader still uses, and the WAL is only
        rewound once one went through with no reader in it, so with several busy processes it
        grows without end. RESTART waits (here at most 100 ms) for the readers of old frames to
        finish. It runs after a commit, so a failure here is swallowed: the write already happened.
        """
        self._next_wal_check = time.monotonic() + WAL_CHECK_INTERVAL
        try:
            if os.path.getsize(self.path + "-wal") <= JOURNAL_SIZE_LIMIT:
                return
        except OSError:
            return
        # With busy_timeout 0 a RESTART that cannot get the locks does what a PASSIVE one would and
        # reports busy; polling it (like _retry) gets in where SQLite's sleeping handler would not.
        deadline = time.monotonic() + 0.1
        try:
            while conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.001)
        except sqlite3.Error:
            pass  # busy, or the disk: the next check tries again

    def statement(self, sql: str, parameters: tuple[object, ...] | list[object]) -> list[Any]:
        """One statement in its own (implicit) transaction, stepped to the end so its lock is released."""
        conn = self.connection()
        try:
            rows = self._retry(lambda: conn.execute(sql, parameters).fetchall())
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        if time.monotonic() >= self._next_wal_check and not getattr(self._local, "instant", False):
            self._limit_wal(conn)
        return rows

    # -- keeping the file bounded ----------------------------------------------------------

    def _sweep(self, conn: sqlite3.Connection) -> bool:
        """Delete one bounded batch of each kind of stale row; True if a batch was full (more to do)."""
        now = time.time()
        deleted = [
            conn.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE expires <= ? LIMIT ?)",
                (now, SWEEP_BATCH),
            ).rowcount,
            conn.execute(
                "DELETE FROM groups WHERE (name, channel) IN "
                "(SELECT name, channel FROM groups WHERE added <= ? LIMIT ?)",
                (now - self.group_expiry, SWEEP_BATCH),
            ).rowcount,
        ]
        # Counters: a window of rowids per sweep, so a send never maintains an index on ``updated``.
        window = conn.execute(
            "SELECT rowid, updated, name FROM stats WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (self._stats_cursor, SWEEP_BATCH),
        ).fetchall()
        self._stats_cursor = window[-1][0] if len(window) == SWEEP_BATCH else 0
        stale = [
            (rowid,)
            for rowid, updated, name in window
            if updated <= now - self.stats_expiry and name != GLOBAL_STATS_NAME
        ]
        conn.executemany("DELETE FROM stats WHERE rowid = ?", stale)
        more = any(count >= SWEEP_BATCH for count in deleted)
        self._next_sweep = 0.0 if more else time.monotonic() + SWEEP_INTERVAL
        return more

    def upkeep_due(self) -> bool:
        return time.monotonic() >= self._next_upkeep

    def upkeep(self) -> None:
        """Idle-time clean-up (see the module docstring); skips any step another process is blocking."""
        # Jittered, so the processes of one deployment (all idle since the same moment) do not collide.
        self._next_upkeep = time.monotonic() + self.upkeep_interval * random.uniform(0.75, 1.0)
        conn = self.connection()  # busy_timeout 0 and no _retry: idle work never waits for a lock
        try:
            self._sweep_waiters(conn)
            freed = conn.execute("PRAGMA freelist_count").fetchone()[0]
            if freed:
                # executescript steps it to the end (execute() would free one page: the pragma has no columns).
                conn.executescript(f"PRAGMA incremental_vacuum({UPKEEP_VACUUM_PAGES});")
            if os.path.exists(self.path + "-wal") and os.path.getsize(self.path + "-wal"):
                if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
                    self._next_upkeep = time.monotonic() + UPKEEP_RETRY  # a reader was in the WAL: soon again
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise explain(self.path, exc) from exc
            self._next_upkeep = time.monotonic() + UPKEEP_RETRY  # another process was writing: soon again
        except sqlite3.Error as exc:
            raise explain(self.path, exc) from exc

    def _sweep_waiters(self, conn: sqlite3.Connection) -> None:
        """Sweep, and delete the rows (and socket files) of waiters whose process died."""
        for _ in range(UPKEEP_SWEEPS - 1):  # the backlog of a load that just ended, in short transactions
            conn.execute("BEGIN IMMEDIATE")
            try:
                more = self._sweep(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            if not more:
                break
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._sweep(conn)
            rows = conn.execute(
                "SELECT channel, address FROM waiters WHERE (channel, address) > (?, ?) "
                "ORDER BY channel, address LIMIT ?",
                (*self._waiter_cursor, UPKEEP_WAITER_PROBES),
            ).fetchall()
            self._waiter_cursor = rows[-1] if len(rows) == UPKEEP_WAITER_PROBES else ("", "")
            dead = sorted({address for _, address in rows if is_dead(address)})
            conn.executemany("DELETE FROM waiters WHERE address = ?", [(address,) for address in dead])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        for address in dead:
            try:
                os.unlink(address)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

"""SQLite channel layer: the embedded default for several processes (and threads) on one machine.

Theory of operation
-------------------
All processes share one database file (:mod:`.sqlite_store`: schema, WAL, transactions, bounded
clean-up). A message is a row ``(id, channel, sent, expires, payload)`` keyed by its list name
(``prefix!`` for a process-specific channel). A send is one ``BEGIN IMMEDIATE`` transaction — the
capacity check, the insert, the counters and the read of the waiters — so a group send is all or
nothing, and a process killed in the middle leaves nothing half-written. A pop is one ``DELETE …
RETURNING`` of the oldest live row over the channels asked for, won by exactly one reader:
at-most-once delivery (a message is lost only by a process that dies after popping it).

Blocking receive does not poll (:mod:`.sqlite_wake`). A receiver that finds nothing binds a UNIX
datagram socket and, *in the transaction of its failed pop*, records its address against each
channel it waits on, then sleeps in ``recv`` bounded by ``blocking_timeout``. A sender reads the
waiters of the lists it wrote to inside its own transaction and, after committing, sends each a
one-byte datagram. The write lock orders the two transactions: either the sender sees the
registration or the receiver's pop sees the message, so no wake-up is lost. A woken waiter peeks
first (a WAL read takes no lock), so the losers of a race do not queue for the write lock. The
socket and its registration are kept between receives on the same channels (``WaiterPool``).

**The event loop never waits on SQLite.** Each statement of the asyncio extension (pops, waiter
registration, sends, group sends) is first tried on a connection that cannot wait (``busy_timeout``
0, no checkpoints: :meth:`Store.instant`). If another process holds the write lock it fails at once
having done nothing, and runs again on the layer's own thread (one per layer and process, in
submission order), which may wait; so does the idle upkeep. The loop only ever waits on the
wake-up socket (``add_reader``) and on futures. A receive cancelled while its pop runs on that
thread puts the popped row back with its id, so it keeps its place and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .base import BaseChannelLayer, Prepared
from .errors import BackendUnavailable, ChannelFull
from .names import check_channel_name, non_local_name
from .sqlite_store import GLOBAL_STATS_NAME, Store, WouldWait
from .sqlite_wake import Waiter, WaiterPool, Waker, wake_directory

__all__ = ["SQLiteChannelLayer"]

T = TypeVar("T")
Row = tuple[int, str, float, float, bytes]  # id, channel, sent, expires, payload

_INSERT = "INSERT INTO messages (channel, sent, expires, payload) VALUES (?, ?, ?, ?)"
# One statement: insert only if the list holds fewer than ``capacity`` live messages (counting stops there).
# Plain "?" only: Python 3.12 deprecates numbered ones ("?1") with a sequence of parameters, 3.14 refuses them.
_INSERT_IF_ROOM = (
    "INSERT INTO messages (channel, sent, expires, payload) SELECT ?, ?, ?, ? WHERE "
    "(SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel = ? AND expires > ? LIMIT ?)) < ?"
)
_LIVE = "SELECT count(*) FROM (SELECT 1 FROM messages WHERE channel = ? AND expires > ? LIMIT ?)"
_COUNT = (
    "INSERT INTO stats VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
    "messages_count = messages_count + excluded.messages_count, "
    "channel_full_count = channel_full_count + excluded.channel_full_count, updated = excluded.updated"
)
_RETURNING = " RETURNING id, channel, sent, expires, payload"


#: Heartbeats of workers and interface servers (see ``announce``), made on first use.
_STATUS_TABLE = (
    "CREATE TABLE IF NOT EXISTS status (kind TEXT NOT NULL, ident TEXT NOT NULL, info TEXT NOT NULL, "
    "expires REAL NOT NULL, PRIMARY KEY (kind, ident)) WITHOUT ROWID"
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _head_query(count: int) -> str:
    """SQL for the id of the oldest live message over ``count`` lists (params: now, *names)."""
    if count == 1:
        return "SELECT (SELECT id FROM messages WHERE expires > ? AND channel = ? ORDER BY id LIMIT 1)"
    names = ", ".join("(?)" for _ in range(count))
    return (
        "SELECT min((SELECT m.id FROM messages AS m WHERE m.channel = n.column1 AND m.expires > ? "
        f"ORDER BY m.id LIMIT 1)) FROM (VALUES {names}) AS n"
    )


class SQLiteChannelLayer(BaseChannelLayer):
    """ASGI 1 layer in one SQLite file shared by every process on the machine."""

    #: Seconds a statement waits for another process's write lock before BackendUnavailable.
    busy_timeout: float = 5.0
    #: Least seconds between two idle upkeeps (sweep, dead waiters, vacuum, WAL truncation) per process.
    upkeep_interval: float = 30.0
    #: Seconds a channel's counters live after its last send (asgi_redis: TTL 3600).
    stats_expiry: float = 3600.0

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
        self._store = Store(self.path, self.busy_timeout, self.group_expiry, self.upkeep_interval, self.stats_expiry)
        self._waker = Waker()
        self._pool = WaiterPool()
        self._executor: tuple[int, ThreadPoolExecutor] | None = None
        self._executor_lock = threading.Lock()
        self._store.connection()  # fail now, not on first use, when the file cannot be opened

    def __repr__(self) -> str:
        return f"<SQLiteChannelLayer path={self.path!r}>"

    # -- sending ---------------------------------------------------------------------------

    def _insert(self, conn: sqlite3.Connection, target: str, payloads: list[bytes], capacity: int, now: float) -> bool:
        """Append ``payloads`` to ``target`` if it has fewer than ``capacity`` live messages."""
        expires = now + self.expiry
        if len(payloads) == 1:
            params = (target, now, expires, payloads[0], target, now, capacity, capacity)
            return conn.execute(_INSERT_IF_ROOM, params).rowcount == 1
        if conn.execute(_LIVE, (target, now, capacity)).fetchone()[0] >= capacity:
            return False
        conn.executemany(_INSERT, [(target, now, expires, payload) for payload in payloads])
        return True

    def _send_rows(self, rows: list[tuple[str, list[bytes], int]]) -> list[bool]:
        """Insert each ``(target, payloads, capacity)`` in one transaction, then wake its waiters."""

        def work(conn: sqlite3.Connection) -> tuple[list[bool], list[str]]:
            now = time.time()
            delivered = [self._insert(conn, target, payloads, capacity, now) for target, payloads, capacity in rows]
            counts: dict[str, list[int]] = {}
            for (target, payloads, _), ok in zip(rows, delivered, strict=True):
                count = counts.setdefault(target, [0, 0])
                count[0 if ok else 1] += len(payloads) if ok else 1
            total = [sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())]
            conn.executemany(
                _COUNT,
                [(name, sent, full, now) for name, (sent, full) in [*counts.items(), (GLOBAL_STATS_NAME, total)]],
            )
            targets = [target for target, (sent, _) in counts.items() if sent]
            if not targets:
                return delivered, []
            query = f"SELECT DISTINCT address FROM waiters WHERE channel IN ({_marks(len(targets))})"
            return delivered, [address for (address,) in conn.execute(query, targets)]

        delivered, addresses = self._store.transaction(work)
        if addresses:
            self._wake(addresses)
        return delivered

    def _wake(self, addresses: list[str]) -> None:
        dead = self._waker.wake(addresses)
        if dead:
            with contextlib.suppress(BackendUnavailable):  # the next sender or the upkeep retries it
                self._store.transaction(
                    lambda c: c.executemany("DELETE FROM waiters WHERE address = ?", [(address,) for address in dead])
                )
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

    def _pop_once(self, names: list[str], waiter: Waiter | None = None, registered: bool = False) -> Row | None:
        """Pop the oldest live message on ``names``; if there is none, register ``waiter`` for them."""
        head = _head_query(len(names))
        pop = f"DELETE FROM messages WHERE id = ({head})" + _RETURNING
        params = (time.time(), *names)
        if waiter is None or registered:
            # A woken waiter peeks first, so the losers of a race do not queue for the write lock.
            if registered and self._store.statement(head, params)[0][0] is None:
                return None
            rows = self._store.statement(pop, params)
            return rows[0] if rows else None

        def work(conn: sqlite3.Connection) -> Row | None:
            rows = conn.execute(pop, params).fetchall()
            if rows:
                row: Row = rows[0]
                return row
            conn.executemany("INSERT OR IGNORE INTO waiters VALUES (?, ?)", [(n, waiter.address) for n in names])
            return None

        return self._store.transaction(work)

    def _restore(self, row: Row) -> None:
        """Put back a row popped for a receive that was cancelled: same id, so the same place in its queue."""

        def work(conn: sqlite3.Connection) -> list[str]:
            conn.execute("INSERT INTO messages (id, channel, sent, expires, payload) VALUES (?, ?, ?, ?, ?)", row)
            return [address for (address,) in conn.execute("SELECT address FROM waiters WHERE channel = ?", (row[1],))]

        self._wake(self._store.transaction(work))

    def _new_waiter(self) -> Waiter:
        directory = wake_directory(self.path)
        try:
            return Waiter(directory)
        except OSError as exc:
            raise BackendUnavailable(f"cannot create a wake-up socket in {directory!r}: {exc}") from exc

    def _unregister(self, waiter: Waiter) -> None:
        # A row left behind (database unavailable now) is deleted by the next sender or the upkeep.
        with contextlib.suppress(BackendUnavailable):
            self._store.transaction(lambda c: c.execute("DELETE FROM waiters WHERE address = ?", (waiter.address,)))
        waiter.close()

    def _upkeep(self) -> None:
        if self._store.upkeep_due():
            with contextlib.suppress(BackendUnavailable):  # idle work: the next real call reports it
                self._store.upkeep()

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        key = (tuple(names), "sync")
        waiter = self._pool.take(key) if block else None
        if waiter is not None:
            waiter.drain()  # wake-ups queued while it was idle: this pop answers them
        popped = self._pop_once(names)
        if popped is not None or not block:
            if waiter is not None and not self._pool.put(key, waiter):
                self._unregister(waiter)
            return None if popped is None else (popped[1], popped[4])
        registered = waiter is not None
        deadline = time.monotonic() + self.blocking_timeout
        if waiter is None:
            waiter = self._new_waiter()
        try:
            if not registered:
                popped = self._pop_once(names, waiter)  # registers it in the transaction that found nothing
                registered = popped is None
            while popped is None and (remaining := deadline - time.monotonic()) > 0:
                waiter.wait(remaining)
                popped = self._pop_once(names, waiter, registered=True)
        finally:
            if not (registered and self._pool.put(key, waiter)):
                self._unregister(waiter)
        if popped is None:
            self._upkeep()
            return None
        return popped[1], popped[4]

    # -- the asyncio extension: on the loop when it cannot wait, else on the layer's thread --

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        with self._executor_lock:
            if self._executor is None or self._executor[0] != os.getpid():
                self._executor = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="sqlite-layer"))
            return self._executor[1].submit(fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any, undo: Callable[[Any], None] | None = None) -> T:
        """``fn(*args)`` on the layer's thread; if the caller is cancelled, ``undo`` its result there."""
        future = self._submit(fn, *args)
        try:
            return await asyncio.shield(asyncio.wrap_future(future))
        except asyncio.CancelledError:
            if undo is not None:
                self._submit(self._undo_when_done, future, undo)  # runs after ``fn``: one thread, in order
            raise

    async def _now_or_off_loop(self, fn: Callable[..., T], *args: Any, undo: Callable[[Any], None] | None = None) -> T:
        """``fn(*args)`` on the loop if it can run without waiting for a lock, else on the layer's thread.

        ``fn`` must raise WouldWait only from its first write (so nothing happened): the layer's
        operations do, and later clean-up writes swallow it as the BackendUnavailable it is.
        """
        try:
            with self._store.instant():
                return fn(*args)
        except WouldWait:
            return await self._call(fn, *args, undo=undo)

    @staticmethod
    def _undo_when_done(future: Future[Any], undo: Callable[[Any], None]) -> None:
        try:
            result = future.result()
        except Exception:
            return
        if result is not None:
            undo(result)

    async def _pop_async(self, names: list[str]) -> tuple[str, bytes] | None:
        """Blocking pop as a coroutine; the loop only waits on the wake-up socket, never on SQLite."""
        key = (tuple(names), "async")
        loop = asyncio.get_running_loop()
        waiter = self._pool.take(key)
        registered = waiter is not None
        try:
            if waiter is not None:
                waiter.drain()
            popped = await self._now_or_off_loop(self._pop_once, names, undo=self._restore)
            if popped is None:
                deadline = loop.time() + self.blocking_timeout
                if waiter is None:
                    waiter = self._new_waiter()
                if not registered:
                    popped = await self._now_or_off_loop(self._pop_once, names, waiter, undo=self._restore)
                    registered = popped is None
                while popped is None and (remaining := deadline - loop.time()) > 0:
                    await self._readable(loop, waiter, remaining)
                    popped = await self._now_or_off_loop(self._pop_once, names, waiter, True, undo=self._restore)
                if popped is None:
                    self._submit(self._upkeep)
        finally:
            if waiter is not None and not (registered and self._pool.put(key, waiter)):
                self._submit(self._unregister, waiter)
        return None if popped is None else (popped[1], popped[4])

    @staticmethod
    async def _readable(loop: asyncio.AbstractEventLoop, waiter: Waiter, timeout: float) -> None:
        ready = loop.create_future()
        fd = waiter.fileno()

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

    async def _push_async(self, target: str, payload: bytes, capacity: int) -> None:
        await self._now_or_off_loop(self._push, target, payload, capacity)

    async def _push_many_async(self, prepared: list[Prepared]) -> list[bool]:
        return await self._now_or_off_loop(self._push_many, prepared)

    async def _group_members_async(self, group: str) -> list[str]:
        return await self._now_or_off_loop(self._group_members, group)

    async def _push_group_async(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        return await self._now_or_off_loop(self._push_group, batches)

    async def aclose(self) -> None:
        """Let the layer's thread finish what was submitted (a cancelled receive's put-back included)."""
        if self._executor is not None and self._executor[0] == os.getpid():
            await asyncio.wrap_future(self._submit(lambda: None))

    # -- existence, groups, flush, statistics ----------------------------------------------

    def _exists(self, name: str) -> bool:
        return self._store.statement(_head_query(1), (time.time(), name))[0][0] is not None

    def _group_add(self, group: str, channel: str) -> None:
        row = (group, channel, time.time())
        self._store.transaction(lambda c: c.execute("INSERT OR REPLACE INTO groups VALUES (?, ?, ?)", row))

    def _group_discard(self, group: str, channel: str) -> None:
        self._store.statement("DELETE FROM groups WHERE name = ? AND channel = ?", (group, channel))

    def _group_members(self, group: str) -> list[str]:
        rows = self._store.statement(
            "SELECT channel FROM groups WHERE name = ? AND added > ? ORDER BY added",
            (group, time.time() - self.group_expiry),
        )
        return [str(row[0]) for row in rows]

    def _flush(self) -> None:
        # Waiters stay: they are receivers blocked right now, in this or other processes.
        def work(conn: sqlite3.Connection) -> None:
            for table in ("messages", "groups", "stats"):
                conn.execute(f"DELETE FROM {table}")

        self._store.transaction(work)

    @staticmethod
    def _counters(conn: sqlite3.Connection, name: str) -> dict[str, int]:
        row = conn.execute("SELECT messages_count, channel_full_count FROM stats WHERE name = ?", (name,)).fetchone()
        return dict(zip(("messages_count", "channel_full_count"), row or (0, 0), strict=True))

    def _global_statistics(self) -> dict[str, int]:
        return self._store.transaction(lambda c: self._counters(c, GLOBAL_STATS_NAME), write=False)

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

        return self._store.transaction(work, write=False)

    def channel_depths(self, channels: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """One read of the channel index for all ``channels``: live messages and the oldest one's send time."""
        targets = {channel: non_local_name(check_channel_name(channel, receive=True)) for channel in channels}
        names = sorted(set(targets.values()))

        def work(conn: sqlite3.Connection) -> dict[str, tuple[int, float]]:
            if not names:
                return {}
            rows = conn.execute(
                f"SELECT channel, count(*), min(sent) FROM messages WHERE channel IN ({_marks(len(names))}) "
                "AND expires > ? GROUP BY channel",
                (*names, time.time()),
            ).fetchall()
            return {str(name): (int(count), float(oldest)) for name, count, oldest in rows}

        found = self._store.transaction(work, write=False)
        now = time.time()
        depths: dict[str, dict[str, float | None]] = {}
        for channel, target in targets.items():
            count, oldest = found.get(target, (0, now))
            depths[channel] = {"depth": count, "oldest_age": max(0.0, now - oldest) if count else None}
        return depths

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        # Its own table, made on first use, so files of older versions need no migration.
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_STATUS_TABLE)
            conn.execute("DELETE FROM status WHERE expires <= ?", (time.time(),))
            conn.execute(
                "INSERT OR REPLACE INTO status (kind, ident, info, expires) VALUES (?, ?, ?, ?)",
                (kind, ident, info, time.time() + ttl),
            )

        self._store.transaction(work)

    def _announcements(self) -> list[tuple[str, str, str]]:
        def work(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'status'").fetchone() is None:
                return []
            rows = conn.execute("SELECT kind, ident, info FROM status WHERE expires > ?", (time.time(),))
            return [(str(kind), str(ident), str(info)) for kind, ident, info in rows]

        return self._store.transaction(work, write=False)

    def close(self) -> None:
        """Wait for the layer's thread, unregister idle waiters and close every connection."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None and executor[0] == os.getpid():
            executor[1].shutdown(wait=True)
        for waiter in self._pool.close():
            self._unregister(waiter)
        self._store.close()
        self._waker.close()

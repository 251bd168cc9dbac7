"""Databases of the session's redis-server, handed out one per user so no test picks a number by hand.

The session's redis-server is started with :data:`DATABASES` databases. Database 0 stays with the
tests that use the server itself (``redis_server``); the others form a pool. A test (the ``redis_db``
fixture) or a module's fixtures (``redis_databases.take()``) take one, find it empty, and give it back
when done, so two users never share a database and a number is never chosen twice by two files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from tests.support.processes import RedisServer

DATABASES = 64

__all__ = ["DATABASES", "DatabasePool", "RedisDatabase"]


@dataclass(frozen=True)
class RedisDatabase:
    """One numbered database of a redis-server."""

    server: RedisServer
    number: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.port}/{self.number}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.server.port, db=self.number, socket_timeout=5)


class DatabasePool:
    """Databases 1 .. DATABASES-1 of ``server``, lent out one user at a time."""

    def __init__(self, server: RedisServer, size: int = DATABASES) -> None:
        self.server = server
        self._free = list(range(1, size))

    @contextlib.contextmanager
    def take(self) -> Iterator[RedisDatabase]:
        """A database of its own for the ``with`` block, flushed before it is handed over."""
        if not self._free:
            raise RuntimeError(f"all {DATABASES - 1} pooled Redis databases are in use (raise DATABASES)")
        database = RedisDatabase(self.server, self._free.pop(0))
        try:
            database.client().flushdb()
            yield database
        finally:
            self._free.append(database.number)

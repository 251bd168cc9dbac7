"""Shared fixtures: real redis-server processes on free ports, stopped by pid after the tests.

Which Redis fixture to use: ``redis_db`` (a database of the session's server, empty, this test's
alone) for anything that only needs somewhere to keep keys; ``redis_databases.take()`` for the same
in a module- or class-scoped fixture; ``own_redis`` for a test that stops, pauses or restarts Redis;
``redis_server`` (database 0 of the session's server) for tests of the server itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# One Django configuration for every in-process test: the HTTP-side test settings are a superset of
# the worker's, and Django can be set up only once per process.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djangoapp_http.settings")

from tests.support.processes import RedisServer, dump_logs, redis_servers, stop_all
from tests.support.redis_db import DATABASES, DatabasePool, RedisDatabase


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        dump_logs()


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    stop_all()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests using database 0 flush what they use."""
    server = RedisServer(extra=["--databases", str(DATABASES)])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_databases(redis_server: RedisServer) -> DatabasePool:
    """The pool of the session server's databases 1..63, for module-scoped fixtures (``take()``)."""
    return DatabasePool(redis_server)


@pytest.fixture
def redis_db(redis_databases: DatabasePool) -> Iterator[RedisDatabase]:
    """An empty database of the session's redis-server that only this test uses."""
    with redis_databases.take() as database:
        yield database


@pytest.fixture(scope="session")
def redis_ring() -> Iterator[list[RedisServer]]:
    """Three redis-servers forming a shard ring."""
    with redis_servers(3) as servers:
        yield servers


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, for tests that stop, pause or restart it."""
    with redis_servers(1) as servers:
        yield servers[0]

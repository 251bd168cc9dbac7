"""Shared fixtures: real redis-server processes on free ports, stopped by pid after the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# One Django configuration for every in-process test: the HTTP-side test settings are a superset of
# the worker's, and Django can be set up only once per process.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djangoapp_http.settings")

from tests.support.processes import RedisServer, dump_logs, redis_servers, stop_all


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
    """One redis-server for the session; tests flush what they use."""
    with redis_servers(1) as servers:
        yield servers[0]


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

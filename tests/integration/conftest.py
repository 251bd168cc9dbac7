"""Fixtures shared by the interface-server integration tests (tests/integration/test_is_*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.is_support import start_worker
from tests.support.processes import ManagedProcess


@pytest.fixture(scope="module")
def redis_url(redis_databases) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database of the session's redis-server for this module alone, as a redis:// URL."""
    with redis_databases.take() as database:
        yield database.url


@pytest.fixture(scope="module")
def worker(redis_url: str) -> Iterator[ManagedProcess]:
    """The echo worker (tests/integration/is_echo_worker.py) on this module's database."""
    process = start_worker(redis_url)
    yield process
    process.stop()

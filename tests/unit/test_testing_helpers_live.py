"""ChannelLiveServerTestCase (reference §5.11) run by Django's test runner: real interface server + worker on Redis."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.test_runserver import ROOT, _env

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _run_live_tests(tmp_path, **env_extra) -> subprocess.CompletedProcess:
    env_extra.setdefault("TEST_LIVE_DB", str(tmp_path / "live-test.sqlite3"))
    env = _env(tmp_path, TEST_LIVE="1", **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "django", "test", "tests.djangoapp_http.live_tests", "-v", "2", "--noinput"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_live_server_test_case_on_redis(tmp_path, redis_server):
    """A ChannelLiveServerTestCase serves HTTP, WebSocket, static files and the test database to real clients."""
    result = _run_live_tests(tmp_path, TEST_REDIS_PORT=str(redis_server.port))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ran 2 tests" in result.stderr and "OK" in result.stderr


def test_live_server_refuses_memory_layer(tmp_path):
    """With the in-memory layer, ChannelLiveServerTestCase refuses to start (it cannot span processes)."""
    result = _run_live_tests(tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured: ChannelLiveServerTestCase cannot use an in-memory channel layer" in result.stderr


def test_live_server_refuses_memory_database(tmp_path, redis_server):
    """With an in-memory SQLite test database, ChannelLiveServerTestCase refuses to start."""
    result = _run_live_tests(tmp_path, TEST_REDIS_PORT=str(redis_server.port), TEST_LIVE_DB=":memory:")
    assert result.returncode != 0
    assert "can not be used with in memory databases" in result.stderr

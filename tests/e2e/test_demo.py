"""`make demo` works: the example project runs as real processes and a person could chat on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def run_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra_env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--check"], env=env,
                          capture_output=True, text=True, timeout=180)


def test_demo_on_embedded_sqlite_layer() -> None:
    """The demo serves a page with a session, WebSocket chat between two clients, and uses both workers."""
    done = run_check({})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "demo check passed: page + session, WebSocket chat, 2 workers" in done.stdout


@pytest.mark.redis
def test_demo_on_redis(redis_server: RedisServer) -> None:
    """REDIS_URL switches the demo to Redis, configured as a Channels 1 project configured asgi_redis."""
    redis_server.client().flushall()
    done = run_check({"REDIS_URL": redis_server.url})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "demo check passed" in done.stdout
    # The messages really went through this Redis: its global counter saw them.
    assert int(redis_server.client().get("asgi-meta:#global#:messages_count") or 0) > 10

"""``manage.py rundelay`` as a real process on Redis, and the 1.1.8 table adopted by ``migrate``."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from channellayer import get_channel_layer
from tests.integration.test_runserver import ROOT, _env
from tests.support.processes import ManagedProcess

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LEGACY_TABLE = (
    'CREATE TABLE "channels.delay_delayedmessage" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
    '"due_date" datetime NOT NULL, "channel_name" varchar(512) NOT NULL, "content" text NOT NULL)'
)


def _manage(env, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "django", *args], env=env, cwd=ROOT, timeout=timeout, capture_output=True, text=True
    )


def test_migrate_adopts_a_channels_1_table(tmp_path):
    """A database that ran Channels 1.1.8's delay app keeps its table and rows through migrate."""
    env = _env(tmp_path)
    db = tmp_path / "db.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(LEGACY_TABLE)
        conn.execute(
            'INSERT INTO "channels.delay_delayedmessage" (due_date, channel_name, content) '
            "VALUES ('2017-09-15 00:00:00', 'old.channel', '{\"text\": \"kept\"}')"
        )
    result = _manage(env, "migrate", "-v", "0")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute('SELECT channel_name, content FROM "channels.delay_delayedmessage"').fetchall() == [
            ("old.channel", '{"text": "kept"}')
        ]
        applied = conn.execute("SELECT name FROM django_migrations WHERE app = 'channels_delay'").fetchall()
    assert applied == [("0001_initial",)]


def test_rundelay_process_on_redis(tmp_path, redis_server):
    """rundelay delivers bytes content after the delay, survives a bad message, and exits 0 on SIGTERM."""
    env = _env(tmp_path, TEST_REDIS_PORT=str(redis_server.port), TEST_PREFIX="delaytest:")
    assert _manage(env, "migrate", "-v", "0").returncode == 0
    process = ManagedProcess(
        "rundelay", [sys.executable, "-m", "django", "rundelay", "--sleep", "0.5"], env=env, cwd=str(ROOT)
    )
    layer = get_channel_layer("redis", {"hosts": [("127.0.0.1", redis_server.port)], "prefix": "delaytest:"})
    try:
        deadline = time.monotonic() + 20
        while "Listening on asgi.delay" not in process.log():
            assert process.alive() and time.monotonic() < deadline, process.log()
            time.sleep(0.1)
        layer.send("asgi.delay", {"channel": "x", "delay": 1})  # bad: no content
        sent = time.monotonic()
        layer.send("asgi.delay", {"channel": "delayed.out", "content": {"bytes": b"\x00\x01\xff"}, "delay": 1000})
        channel, message = None, None
        while channel is None and time.monotonic() - sent < 10:
            channel, message = layer.receive(["delayed.out"], block=True)
        elapsed = time.monotonic() - sent
        assert message == {"bytes": b"\x00\x01\xff"}
        assert 0.9 <= elapsed < 3.5
        assert "Invalid message on asgi.delay, skipped" in process.log()
        assert process.alive()
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.popen.wait(15)
        assert process.popen.returncode == 0, process.log()
        assert time.monotonic() - stopped < 10
    finally:
        process.stop()
        layer.close()

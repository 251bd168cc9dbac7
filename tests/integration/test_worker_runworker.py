"""runworker as a real process on a real redis-server: outages, graceful stop, limits, full channels."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from channellayer import RedisChannelLayer
from tests.support.processes import ManagedProcess, RedisServer

pytestmark = [pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


def runworker(redis: RedisServer, *args: str, prefix: str = "asgi:", **env: str) -> ManagedProcess:
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEST_REDIS_PORT": str(redis.port),
        "TEST_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    argv = [sys.executable, "-m", "django", "runworker", "--settings=tests.djangoapp.settings", *args]
    return ManagedProcess("runworker", argv, env=environ, cwd=str(ROOT))


def client(redis: RedisServer, prefix: str = "asgi:") -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[redis.address], prefix=prefix, blocking_timeout=1)


def collect(layer: RedisChannelLayer, channel: str, count: int, timeout: float = 15.0) -> list[dict]:
    """Receive ``count`` messages from ``channel`` (or fail after ``timeout``)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} messages on {channel}: {got}"
        name, content = layer.receive([channel], block=True)
        if name is not None:
            got.append(content)
    return got


def wait_for_log(process: ManagedProcess, pattern: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = process.log()
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in log:\n{process.log()}")


def test_refuses_in_memory_layer():
    """runworker on the in-memory layer exits 1 with the 1.1.8 error message."""
    environ = {k: v for k, v in os.environ.items() if k != "TEST_REDIS_PORT"}
    environ["PYTHONPATH"] = str(ROOT)
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "django", "runworker", "--settings=tests.djangoapp.settings"],
        cwd=str(ROOT),
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "You cannot span multiple processes with the in-memory layer" in done.stderr


def test_max_messages_exits_zero_after_that_many(redis_server):
    """--max-messages 3: three messages handled, the process exits 0, the fourth stays queued."""
    layer = client(redis_server, prefix="maxmsg:")
    layer.flush()
    worker = runworker(redis_server, "--max-messages", "3", "--only-channels", "work.echo", prefix="maxmsg:")
    for n in range(4):
        layer.send("work.echo", {"n": n, "to": "results"})
    assert [m["echo"] for m in collect(layer, "results", 3)] == [0, 1, 2]
    assert worker.popen.wait(15) == 0
    assert layer.receive(["work.echo"])[1]["n"] == 3
    assert "handled 3 message(s) (--max-messages)" in worker.log()


def test_sigterm_with_threads_finishes_in_flight_and_flushes(redis_server):
    """SIGTERM during 4 slow consumers (--threads 4): all 4 finish, their buffered sends arrive, exit 0,
    and a message queued after the signal is left for the next worker."""
    layer = client(redis_server, prefix="sigterm:")
    layer.flush()
    worker = runworker(redis_server, "--threads", "4", "--only-channels", "work.slow", prefix="sigterm:")
    wait_for_log(worker, "Listening on channels work.slow")
    for n in range(4):
        layer.send("work.slow", {"n": n, "to": "results", "seconds": 1.5})
    started = collect(layer, "results", 4)
    assert sorted(m["started"] for m in started) == [0, 1, 2, 3]
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    layer.send("work.slow", {"n": 99, "to": "results", "seconds": 0})
    assert worker.popen.wait(20) == 0
    done = collect(layer, "results", 4)
    assert sorted(m["done"] for m in done) == [0, 1, 2, 3]
    assert layer.receive(["work.slow"])[1]["n"] == 99
    assert "SIGTERM received: no new messages; finishing 4 in flight" in worker.log()
    assert "Worker stopped cleanly" in worker.log()


def test_sigint_idle_single_thread_exits_zero(redis_server):
    """SIGINT on an idle single-threaded worker: exit 0 within the layer's blocking timeout."""
    worker = runworker(redis_server, "--only-channels", "work.echo", prefix="sigint:")
    wait_for_log(worker, "Listening on channels")
    started = time.monotonic()
    worker.send_signal(signal.SIGINT)
    assert worker.popen.wait(15) == 0
    assert time.monotonic() - started < 8


@pytest.mark.slow
def test_redis_outage_logged_once_worker_resumes(own_redis):
    """Redis killed under a running worker: one error line, the process stays up, and a message sent
    after Redis restarts (same port) is consumed; one line says the layer is back."""
    layer = client(own_redis)
    worker = runworker(own_redis, "--only-channels", "work.echo", "--threads", "2")
    layer.send("work.echo", {"n": 1, "to": "results"})
    assert collect(layer, "results", 1)[0]["echo"] == 1
    own_redis.stop()
    wait_for_log(worker, "Channel layer unavailable")
    time.sleep(3)
    assert worker.alive()
    own_redis.start()
    layer = client(own_redis)
    layer.send("work.echo", {"n": 2, "to": "results"})
    assert collect(layer, "results", 1, timeout=20)[0]["echo"] == 2
    log = wait_for_log(worker, "Channel layer is back after")
    assert log.count("Channel layer unavailable") == 1
    assert worker.alive()
    worker.stop()


def test_channel_full_on_buffered_send_drops_with_one_line_and_delivers_rest(redis_server):
    """A consumer's buffered sends to a full channel are retried for --send-timeout, then dropped with
    one log line naming it; the rest of the batch arrives and the worker keeps going."""
    layer = client(redis_server, prefix="full:")
    layer.flush()
    worker = runworker(
        redis_server, "--send-timeout", "1", "--only-channels", "work.*", prefix="full:", TEST_CAPACITY="2"
    )
    full_layer = RedisChannelLayer(hosts=[redis_server.address], prefix="full:", channel_capacity={"full.*": 2})
    full_layer.send("full.target", {"filler": 1})
    full_layer.send("full.target", {"filler": 2})
    layer.send("work.burst", {"count": 5, "to": "results"})
    assert collect(layer, "results", 1) == [{"after_full": True}]
    log = wait_for_log(worker, "Dropped 5 buffered message")
    assert log.count("Dropped") == 1
    assert "for channel 'full.target': the channel is still full after retrying for 1.00s" in log
    assert "RuntimeError" not in log
    layer.send("work.echo", {"n": 7, "to": "results"})
    assert collect(layer, "results", 1)[0]["echo"] == 7
    worker.stop()


def test_consumer_error_logged_worker_continues_and_verbose_logs_channels(redis_server):
    """A failing consumer is logged with its traceback; -v 2 logs each message's channel; work goes on."""
    layer = client(redis_server, prefix="verbose:")
    layer.flush()
    worker = runworker(
        redis_server,
        "-v",
        "2",
        "--exclude-channels",
        "work.slow",
        "--exclude-channels",
        "work.burst",
        prefix="verbose:",
    )
    layer.send("work.fail", {})
    layer.send("work.echo", {"n": 3, "to": "results"})
    assert collect(layer, "results", 1)[0]["echo"] == 3
    log = wait_for_log(worker, "RuntimeError: consumer failure for the test")
    assert "Error processing message with consumer tests.djangoapp.routing.fail" in log
    assert (
        "Listening on channels http.request, websocket.connect, websocket.disconnect, websocket.receive, work.echo, work.fail"
        in log
    )
    assert re.search(r"DEBUG - runworker - work\.fail", log)
    worker.stop()


def test_layer_option_serves_that_alias(redis_server):
    """--layer other consumes from the "other" CHANNEL_LAYERS alias (its own prefix), not the default;
    the consumer's Channel(name) still sends on the default alias, as in 1.1.8."""
    other = client(redis_server, prefix="other-alias:")
    other.flush()
    default = client(redis_server, prefix="layeropt:")
    default.flush()
    worker = runworker(
        redis_server, "--layer", "other", "--only-channels", "work.echo", "--max-messages", "1", prefix="layeropt:"
    )
    default.send("work.echo", {"n": 4, "to": "results"})
    other.send("work.echo", {"n": 5, "to": "results"})
    assert collect(default, "results", 1)[0]["echo"] == 5
    assert worker.popen.wait(15) == 0
    assert "Running worker against channel layer other (channellayer.redis.RedisChannelLayer)" in worker.log()
    assert default.receive(["work.echo"])[1]["n"] == 4


def test_unknown_layer_alias_is_a_command_error(redis_server):
    """--layer with an alias missing from CHANNEL_LAYERS exits 1 naming it."""
    worker = runworker(redis_server, "--layer", "nope")
    assert worker.popen.wait(30) == 1
    assert "No channel layer named 'nope' in CHANNEL_LAYERS (configured: ['default', 'other'])" in worker.log()


def test_max_seconds_exits_zero(redis_server):
    """--max-seconds 1 on an idle worker: exit 0 within the blocking timeout after the deadline."""
    worker = runworker(redis_server, "--max-seconds", "1", "--threads", "2", prefix="maxsec:")
    assert worker.popen.wait(20) == 0
    assert "ran for 1.0s (--max-seconds)" in worker.log()


def test_debug_with_staticfiles_serves_static_url(redis_server):
    """DEBUG + staticfiles: check_default routes http.request to StaticFilesConsumer, which serves
    STATIC_URL files from a worker (and answers other paths with the views)."""
    layer = client(redis_server, prefix="static:")
    layer.flush()
    worker = runworker(redis_server, "--only-channels", "http.request", prefix="static:", TEST_DEBUG="1")
    request = {
        "reply_channel": "daphne.response.Static!one",
        "http_version": "1.1",
        "method": "GET",
        "path": "/static/worker-test.txt",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [[b"host", b"localhost"]],
        "body": b"",
        "client": ["127.0.0.1", 1],
        "server": ["127.0.0.1", 80],
    }
    layer.send("http.request", request)
    replies = []
    while not replies or replies[-1].get("more_content"):
        replies += collect(layer, "daphne.response.Static!", 1)
    assert replies[0]["status"] == 200
    assert b"".join(r.get("content", b"") for r in replies) == b"static file served by a worker\n"
    worker.stop()

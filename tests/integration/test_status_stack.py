"""Worker metrics, heartbeats and the status view against a real stack: Redis, our daphne, runworker pools.

The e2e project (tests/e2e/project) routes ``slow.jobs`` to a consumer that answers on the
message's reply channel; a message without one makes it raise, which is how the tests cause a
known number of consumer exceptions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from channellayer import get_channel_layer
from tests.e2e.stack import PROJECT, ROOT, Stack
from tests.support.processes import ManagedProcess, reported_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PREFIX = "status-test:"
BEAT = "0.5"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def layer_config(stack: Stack) -> dict:
    return {"hosts": [stack.redis_url], "prefix": PREFIX}


def status(stack: Stack, *args: str, django: bool = False) -> subprocess.CompletedProcess:
    if django:
        argv = [sys.executable, "manage.py", "channels_status", *args]
    else:
        argv = [
            sys.executable,
            "-m",
            "channellayer",
            "status",
            "--layer",
            "redis",
            "--layer-config",
            json.dumps(layer_config(stack)),
            *args,
        ]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env=stack.env(False),
        cwd=str(PROJECT) if django else str(ROOT),
    )


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(redis_databases):
    """The stack on a database of its own; the worker's metrics endpoint binds port 0 and its log names the port."""
    with redis_databases.take() as database:
        s = Stack.on(database, prefix=PREFIX)
        try:
            worker = s.worker(
                "web-worker", "--exclude-channels", "slow.jobs", "--metrics-port", "0", "--heartbeat-interval", BEAT
            )
            s.server("--metrics-port", "0", "--heartbeat-interval", BEAT)
            s.wait_ready()
            s.worker_metrics = reported_port(worker)
            yield s
        finally:
            s.stop()


def test_worker_counts_each_channel(stack):
    """N requests add exactly N to the worker's http.request count and histogram, none to its exceptions."""
    # Requests from wait_ready that timed out on the client may still be queued or in flight: wait for quiet.
    layer = get_channel_layer("redis", layer_config(stack))

    def quiet():
        first = scrape(stack.worker_metrics)
        time.sleep(0.3)
        idle = layer.channel_depths(["http.request"])["http.request"]["depth"] == 0
        return first if idle and scrape(stack.worker_metrics) == first else None

    before = wait_for(quiet, what="the worker to finish the start-up requests")
    for _ in range(5):
        assert requests.get(stack.url + "/hello/", timeout=10).status_code == 200
    after = scrape(stack.worker_metrics)
    key = (("channel", "http.request"),)
    assert after[("channels_worker_messages_total", key)] - before[("channels_worker_messages_total", key)] == 5
    assert (
        after[("channels_worker_consume_seconds_count", key)] - before[("channels_worker_consume_seconds_count", key)]
        == 5
    )
    assert after[("channels_worker_consumer_exceptions_total", key)] == 0
    assert after[("channels_worker_layer_errors_total", ())] == 0
    health = requests.get(f"http://127.0.0.1:{stack.worker_metrics}/healthz", timeout=5)
    assert (health.status_code, health.text) == (200, "ok\n")


def test_status_warns_about_an_unconsumed_channel_then_a_pool_takes_it(stack):
    """Queued slow.jobs with no live consumer: warned (exit 3, gauge 1); a slow.jobs pool drains it (exit 0)."""
    layer = get_channel_layer("redis", layer_config(stack))
    for i in range(3):
        layer.send("slow.jobs", {"text": f"job{i}"})  # no reply_channel: the consumer raises

    def served_seen():  # the worker's announcement lags its counter by up to one heartbeat (0.5 s)
        done = status(stack, "--once", "--json", "--channel", "slow.jobs")
        assert done.returncode == 3, done.stderr
        seen = json.loads(done.stdout)
        return seen if seen["workers"] and seen["workers"][0]["served"] >= 6 else None

    state = wait_for(served_seen, what="the worker's heartbeat to report the requests it served")
    assert state["unconsumed"] == ["slow.jobs"]
    jobs = next(c for c in state["channels"] if c["name"] == "slow.jobs")
    assert jobs["depth"] == 3 and jobs["oldest_age"] is not None and jobs["consumers"] == []
    (worker,) = state["workers"]
    assert "http.request" in worker["channels"] and "slow.jobs" not in worker["channels"]
    assert worker["host"] and worker["pid"] > 0
    (interface,) = state["interfaces"]
    assert interface["prefix"].startswith("daphne.response.") and interface["connections"] >= 0

    view = status(stack, "--once", django=True)  # the routing's channels are watched without --channel
    assert view.returncode == 3, view.stderr
    assert "WARNING: no live worker consumes slow.jobs (3 message(s) queued)" in view.stdout
    assert "Workers (1 live)" in view.stdout and "Interface servers (1 live)" in view.stdout

    exporter = ManagedProcess(
        "status-exporter",
        [
            sys.executable,
            "-m",
            "channellayer",
            "status",
            "--layer",
            "redis",
            "--layer-config",
            json.dumps(layer_config(stack)),
            "--channel",
            "slow.jobs",
            "--metrics-port",
            "0",
        ],
        cwd=str(ROOT),
        env={**stack.env(False), "PYTHONUNBUFFERED": "1"},
    )
    try:
        exporter_port = reported_port(exporter)
        gauges = scrape(exporter_port)
        assert gauges[("channels_channel_depth", (("channel", "slow.jobs"),))] == 3
        assert gauges[("channels_channel_unconsumed", (("channel", "slow.jobs"),))] == 1
        assert gauges[("channels_channel_unconsumed", (("channel", "http.request"),))] == 0
        assert gauges[("channels_workers_live", ())] == 1 and gauges[("channels_interface_servers_live", ())] == 1
    finally:
        exporter.stop()

    jobs_worker = stack.worker(
        "jobs-worker", "--only-channels", "slow.jobs", "--metrics-port", "0", "--heartbeat-interval", BEAT
    )
    try:
        jobs_metrics = reported_port(jobs_worker)
        key = ("channels_worker_consumer_exceptions_total", (("channel", "slow.jobs"),))
        wait_for(lambda: scrape(jobs_metrics).get(key) == 3, what="3 consumer exceptions on slow.jobs")
        assert scrape(jobs_metrics)[("channels_worker_messages_total", (("channel", "slow.jobs"),))] == 3
        state = json.loads(status(stack, "--once", "--json", "--channel", "slow.jobs").stdout)
        assert state["unconsumed"] == [] and len(state["workers"]) == 2
        jobs = next(c for c in state["channels"] if c["name"] == "slow.jobs")
        assert jobs["depth"] == 0 and len(jobs["consumers"]) == 1
    finally:
        jobs_worker.stop()
    # Its heartbeat lapses within three intervals; then slow.jobs is only warned about if messages wait.
    wait_for(
        lambda: len(json.loads(status(stack, "--once", "--json").stdout)["workers"]) == 1,
        timeout=10,
        what="the stopped worker's heartbeat to lapse",
    )


def test_live_view_refreshes_with_rates(stack):
    """Without --once the view redraws every --interval, and the second frame has a worker throughput."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "channellayer",
            "status",
            "--layer",
            "redis",
            "--layer-config",
            json.dumps(layer_config(stack)),
            "--json",
            "--interval",
            "0.3",
        ],
        cwd=str(ROOT),
        env=stack.env(False),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        frames = [json.loads(proc.stdout.readline()) for _ in range(3)]
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(10)
    assert frames[0]["workers"][0]["rate"] is None  # no earlier frame to compare with
    assert all(frame["workers"][0]["rate"] is not None for frame in frames[1:])
    assert frames[2]["time"] - frames[1]["time"] >= 0.3

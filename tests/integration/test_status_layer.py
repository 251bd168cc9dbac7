"""Channel depths and announcements of every backend (real redis-server ring, SQLite file, rabbitmq-server)."""

from __future__ import annotations

import json
import time

import pytest

from channellayer import BaseChannelLayer, MemoryChannelLayer, get_channel_layer
from channellayer.status import Heartbeat, render, snapshot


@pytest.fixture(scope="module")
def rabbitmq_broker():
    """One real rabbitmq-server for this module (it takes seconds to start)."""
    from tests.support.rabbitmq import RabbitMQServer

    broker = RabbitMQServer()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(params=["redis-ring", "sqlite", "memory", "rabbitmq"])
def layer(request, tmp_path):
    if request.param == "redis-ring":
        ring = request.getfixturevalue("redis_ring")
        made = get_channel_layer("redis", {"hosts": [server.url for server in ring], "expiry": 60})
    elif request.param == "rabbitmq":
        made = get_channel_layer("rabbitmq", {"url": request.getfixturevalue("rabbitmq_broker").url, "expiry": 60})
    elif request.param == "sqlite":
        made = get_channel_layer("sqlite", {"path": str(tmp_path / "layer.db"), "expiry": 60})
    else:
        made = get_channel_layer("memory", {"expiry": 60})
    made.flush()
    yield made
    made.flush()
    made.close()


def test_depth_and_oldest_age(layer):
    """channel_depths counts the queued messages of each channel and ages its oldest one."""
    for i in range(5):
        layer.send("http.request", {"i": i})
    layer.send("daphne.response.abc!x", {"a": 1})
    time.sleep(0.3)
    layer.send("http.request", {"i": 5})
    depths = layer.channel_depths(["http.request", "websocket.connect", "daphne.response.abc!"])
    assert depths["http.request"]["depth"] == 6
    assert 0.25 <= depths["http.request"]["oldest_age"] < 5
    assert depths["websocket.connect"] == {**depths["websocket.connect"], "depth": 0, "oldest_age": None}
    assert depths["daphne.response.abc!"]["depth"] == 1
    layer.receive(["http.request"])
    assert layer.channel_depths(["http.request"])["http.request"]["depth"] == 5


def test_a_silent_process_disappears_after_its_ttl(layer):
    """A process that stops heartbeating leaves announcements() after its ttl, while a live one stays."""
    layer.announce("worker", "h:dead", {"pid": 7}, 0.5)
    for _ in range(4):
        layer.announce("worker", "h:live", {"pid": 8}, 0.5)
        assert "h:live" in [entry["ident"] for entry in layer.announcements()]
        time.sleep(0.2)
    assert [entry["ident"] for entry in layer.announcements()] == ["h:live"]


def test_rabbitmq_depth_peek_keeps_order_and_messages(rabbitmq_broker):
    """Reading a RabbitMQ channel's head for its age leaves every message queued, in send order."""
    layer = get_channel_layer("rabbitmq", {"url": rabbitmq_broker.url})
    layer.flush()
    for i in range(3):
        layer.send("http.request", {"i": i})
    for _ in range(3):
        entry = layer.channel_depths(["http.request"])["http.request"]
        assert entry["depth"] == 3 and entry["oldest_age"] is not None
    assert [layer.receive(["http.request"])[1]["i"] for _ in range(3)] == [0, 1, 2]
    assert layer.channel_depths(["http.request"])["http.request"] == {"depth": 0, "oldest_age": None}
    layer.flush()
    layer.close()


def test_rabbitmq_depth_peeks_lose_nothing_to_a_concurrent_receiver(rabbitmq_broker):
    """While channel_depths peeks at the head, a receiving process gets every message exactly once."""
    import threading

    layer = get_channel_layer("rabbitmq", {"url": rabbitmq_broker.url, "blocking_timeout": 1})
    receiver = get_channel_layer("rabbitmq", {"url": rabbitmq_broker.url, "blocking_timeout": 1})
    layer.flush()
    for i in range(90):  # under the default capacity of 100
        layer.send("http.request", {"i": i})
    got: list[int] = []

    def drain():
        while True:
            channel, message = receiver.receive(["http.request"], block=True)
            if channel is None:
                return
            got.append(message["i"])

    thread = threading.Thread(target=drain)
    thread.start()
    peeks = 0
    while thread.is_alive() and peeks < 500:
        layer.channel_depths(["http.request"])
        peeks += 1
    thread.join(10)
    assert peeks >= 5 and sorted(got) == list(range(90))
    layer.flush()
    layer.close()
    receiver.close()


def test_redis_depth_is_per_shard(redis_ring):
    """On a ring, a normal channel's depth is the sum over shards, and each shard's share is reported."""
    layer = get_channel_layer("redis", {"hosts": [server.url for server in redis_ring]})
    layer.flush()
    for i in range(7):
        layer.send("websocket.receive", {"i": i})
    entry = layer.channel_depths(["websocket.receive"])["websocket.receive"]
    assert entry["depth"] == 7 and sum(entry["shards"]) == 7 and len(entry["shards"]) == 3
    assert max(entry["shards"]) - min(entry["shards"]) <= 1  # round-robin sends
    layer.flush()


def test_announcements_expire(layer):
    """An announcement is visible until its TTL runs out; a second announce replaces the first."""
    layer.announce("worker", "h:1", {"pid": 1, "served": 0}, 0.3)
    layer.announce("worker", "h:1", {"pid": 1, "served": 3}, 0.3)
    layer.announce("interface", "h:2", {"pid": 2}, 30)
    assert layer.announcements() == [
        {"kind": "interface", "ident": "h:2", "pid": 2},
        {"kind": "worker", "ident": "h:1", "pid": 1, "served": 3},
    ]
    time.sleep(0.4)
    assert [entry["ident"] for entry in layer.announcements()] == ["h:2"]


def test_announce_rejects_bad_arguments(layer):
    """A kind with ':' or a non-positive TTL is a ValueError naming it."""
    with pytest.raises(ValueError, match="kind without ':'"):
        layer.announce("a:b", "x", {}, 5)
    with pytest.raises(ValueError, match="ttl must be a positive number"):
        layer.announce("worker", "x", {}, 0)


class _NoBoard(MemoryChannelLayer):
    """A backend without announcements (the base class's default)."""

    _announce = BaseChannelLayer._announce
    _announcements = BaseChannelLayer._announcements


def test_a_layer_without_heartbeats_is_said_so_not_called_unconsumed():
    """Without announcements the snapshot warns that processes cannot be listed, and flags no channel."""
    layer = _NoBoard()
    layer.send("http.request", {"x": 1})
    with pytest.raises(NotImplementedError, match="_NoBoard keeps no process announcements"):
        layer.announcements()
    state = snapshot(layer)
    assert state["heartbeats"] is False and state["unconsumed"] == []
    assert state["warnings"] == [
        "_NoBoard keeps no heartbeats: live workers and interface servers, and channels "
        "without a consumer, cannot be shown"
    ]
    beat = Heartbeat(layer, "worker", dict, interval=60)
    assert beat.beat_once() is False and beat._stop.is_set()


def test_snapshot_finds_the_channel_no_worker_listens_on():
    """A worker announcing http.request covers it; queued reports.render with no such worker is unconsumed."""
    layer = MemoryChannelLayer()
    Heartbeat(layer, "worker", lambda: {"channels": ["http.request"], "served": 4}, interval=60).beat_once()
    layer.send("reports.render", {"x": 1})
    state = snapshot(layer, ["reports.render"])
    assert state["unconsumed"] == ["reports.render"]
    assert state["warnings"] == ["no live worker consumes reports.render (1 message(s) queued)"]
    (worker,) = state["workers"]
    assert worker["served"] == 4 and worker["kind"] == "worker" and worker["rate"] is None
    text = render(state)
    assert "WARNING: no live worker consumes reports.render" in text and "Workers (1 live)" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--layer", "redis", "--layer-config", "[1]"], "--layer-config must be a JSON object"),
        (["status", "--layer", "redis", "--layer-config", "{"], "--layer-config is not JSON"),
        (["status", "--layer", "redsi"], "did you mean 'redis'?"),
        (["status", "--layer", "memory", "--interval", "0"], "--interval must be positive, not 0.0"),
    ],
)
def test_status_command_line_errors(argv, message, capsys):
    """Bad python -m channellayer status command lines exit 2 naming the problem."""
    from channellayer.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_once_exit_status_names_unconsumed(capsys):
    """--once --json exits 3 when http.request has no live consumer, 0 once a worker announces it."""
    from types import SimpleNamespace

    from channellayer.__main__ import run_status

    layer = MemoryChannelLayer()
    options = SimpleNamespace(channels=[], once=True, json=True, interval=2.0, metrics_port=None, metrics_bind="")
    assert run_status(layer, options) == 3
    assert json.loads(capsys.readouterr().out)["unconsumed"] == ["http.request"]
    Heartbeat(layer, "worker", lambda: {"channels": ["http.request"]}, interval=60).beat_once()
    assert run_status(layer, options) == 0


def test_redis_cluster_depths_and_announcements():
    """On a real Redis Cluster (3 masters + replicas): depths per channel, announcements that expire."""
    from tests.support.redis_cluster import RedisClusterNodes

    nodes = RedisClusterNodes()
    try:
        layer = get_channel_layer("redis-cluster", {"hosts": [nodes.hosts[0]]})
        layer.flush()
        for i in range(4):
            layer.send("http.request", {"i": i})
        depths = layer.channel_depths(["http.request", "websocket.connect"])
        assert depths["http.request"]["depth"] == 4 and depths["websocket.connect"]["depth"] == 0
        layer.announce("worker", "h:1", {"channels": ["http.request"]}, 0.3)
        layer.announce("interface", "h:2", {"prefix": "daphne.response.x!"}, 30)
        assert [(a["kind"], a["ident"]) for a in layer.announcements()] == [("interface", "h:2"), ("worker", "h:1")]
        assert snapshot(layer)["unconsumed"] == []
        time.sleep(0.4)
        assert [a["kind"] for a in layer.announcements()] == ["interface"]
        assert snapshot(layer)["unconsumed"] == ["http.request"]
        layer.flush()
    finally:
        nodes.stop()

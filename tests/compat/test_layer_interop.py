"""Our Redis layer and the real asgi_redis 1.4.3 (legacy virtualenv) exchange every kind of message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py

from channellayer import ChannelFull, get_channel_layer
from channellayer.redis import RedisChannelLayer, consistent_hash
from tests.legacy import LegacyLayer
from tests.support.processes import RedisServer

pytestmark = [pytest.mark.legacy, pytest.mark.redis]

MESSAGE = {
    "text": "caf\u00e9",
    "bytes": b"\x00\xff",
    "int": 7,
    "float": 0.5,
    "none": None,
    "flag": True,
    "headers": [[b"host", b"example.com"]],
    "nested": {"k": ["v", b"w"]},
}


@pytest.fixture(params=[1, 2], ids=["1-shard", "2-shards"])
def hosts(
    request: pytest.FixtureRequest, redis_server: RedisServer, redis_ring: list[RedisServer]
) -> Iterator[list[Any]]:
    servers = [redis_server] if request.param == 1 else redis_ring[:2]
    for server in servers:
        server.client().flushall()
    yield [server.address for server in servers]


@pytest.fixture
def pair(hosts: list[Any]) -> Iterator[tuple[RedisChannelLayer, LegacyLayer]]:
    ours = get_channel_layer("asgi_redis.RedisChannelLayer", {"hosts": hosts})
    legacy = LegacyLayer(hosts=hosts)
    yield ours, legacy  # type: ignore[misc]
    legacy.close()
    ours.close()


def legacy_receive(legacy: LegacyLayer, channels: list[str], tries: int = 4) -> tuple[Any, Any]:
    """asgi_redis reads one shard per non-blocking receive; try each shard in turn."""
    for _ in range(tries):
        channel, message = legacy.receive(channels, False)
        if channel is not None:
            return channel, message
    return None, None


def test_normal_channel_both_ways(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """A normal-channel message sent by either side is received intact by the other."""
    ours, legacy = pair
    legacy.send("http.request", MESSAGE)
    assert ours.receive(["http.request"]) == ("http.request", MESSAGE)
    ours.send("http.request", MESSAGE)
    assert list(legacy_receive(legacy, ["http.request"])) == ["http.request", MESSAGE]


def test_process_channel_both_ways(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """Replies to daphne.response.X!Y travel in both directions with the full channel name."""
    ours, legacy = pair
    ours.send("daphne.response.AbCdEfGhIj!kLmNoPqRsT", {"status": 200, "content": b"ok"})
    assert legacy.receive(["daphne.response.AbCdEfGhIj!"], False) == [
        "daphne.response.AbCdEfGhIj!kLmNoPqRsT",
        {"status": 200, "content": b"ok"},
    ]
    legacy.send("daphne.response.AbCdEfGhIj!zzz", {"text": "hi"})
    assert ours.receive(["daphne.response.AbCdEfGhIj!"]) == ("daphne.response.AbCdEfGhIj!zzz", {"text": "hi"})


def test_single_reader_channels_both_ways(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """A '?' channel made by either side can be sent to by the other and read back."""
    ours, legacy = pair
    name = legacy.new_channel("http.request.body?")
    ours.send(name, {"content": b"chunk", "more_content": False})
    assert legacy.receive([name], False) == [name, {"content": b"chunk", "more_content": False}]
    name = ours.new_channel("http.request.body?")
    legacy.send(name, {"content": b"x"})
    assert ours.receive([name]) == (name, {"content": b"x"})


def test_groups_both_ways(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """Memberships added by either side are seen by both, and either side's group send reaches them."""
    ours, legacy = pair
    legacy.group_add("chat", "daphne.response.AbC!one")
    ours.group_add("chat", "daphne.response.AbC!two")
    assert legacy.group_channels("chat") == ["daphne.response.AbC!one", "daphne.response.AbC!two"]
    assert sorted(ours.group_channels("chat")) == ["daphne.response.AbC!one", "daphne.response.AbC!two"]
    assert ours.send_group("chat", {"text": "from ours"}) == 2
    got = [legacy.receive(["daphne.response.AbC!"], False) for _ in range(2)]
    assert sorted(c for c, _ in got) == ["daphne.response.AbC!one", "daphne.response.AbC!two"]
    assert all(m == {"text": "from ours"} for _, m in got)
    legacy.send_group("chat", {"text": "from legacy"})
    got = [ours.receive(["daphne.response.AbC!"]) for _ in range(2)]
    assert sorted(c for c, _ in got) == ["daphne.response.AbC!one", "daphne.response.AbC!two"]
    legacy.group_discard("chat", "daphne.response.AbC!one")
    assert ours.group_channels("chat") == ["daphne.response.AbC!two"]


def test_encryption_both_ways(hosts: list[Any]) -> None:
    """With the same symmetric_encryption_keys, encrypted messages cross in both directions; rotation works."""
    ours = get_channel_layer("redis", {"hosts": hosts, "symmetric_encryption_keys": ["new-key", "old-key"]})
    legacy = LegacyLayer(hosts=hosts, symmetric_encryption_keys=["old-key"])
    try:
        legacy.send("enc!a", MESSAGE)
        assert ours.receive(["enc!"]) == ("enc!a", MESSAGE)
        legacy_new = LegacyLayer(hosts=hosts, symmetric_encryption_keys=["new-key"])
        try:
            ours.send("enc!b", MESSAGE)
            assert legacy_new.receive(["enc!"], False) == ["enc!b", MESSAGE]
        finally:
            legacy_new.close()
    finally:
        legacy.close()
        ours.close()


def test_same_keys_types_and_ttls(pair: tuple[RedisChannelLayer, LegacyLayer], hosts: list[Any]) -> None:
    """Our send leaves exactly the key names, types and TTLs that asgi_redis's send leaves."""
    ours, legacy = pair
    legacy.send("layout!legacy", {"a": 1})
    ours.send("layout!ours", {"a": 1})
    legacy.group_add("layoutgroup", "layout!legacy")
    ours.group_add("layoutgroup", "layout!ours")
    shard = redis_py.Redis(*hosts[consistent_hash("layout!", len(hosts))])
    assert shard.type("asgi:layout!") == b"list"
    entries = shard.lrange("asgi:layout!", 0, -1)
    assert len(entries) == 2
    for entry in entries:
        assert entry.startswith(b"asgi:") and len(entry) == len("asgi:") + 32
        assert shard.type(entry) == b"string" and 55 <= shard.ttl(entry) <= 60
    assert 56 <= shard.ttl("asgi:layout!") <= 61
    group_shard = redis_py.Redis(*hosts[consistent_hash("layoutgroup", len(hosts))])
    assert group_shard.type("asgi::group:layoutgroup") == b"zset"
    assert 86390 <= group_shard.ttl("asgi::group:layoutgroup") <= 86400
    assert shard.exists("asgi-meta:layout!:messages_count")
    assert int(shard.get("asgi-meta:layout!:messages_count")) == 2


def test_shared_capacity_and_statistics(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """Both sides count against the same list capacity and the same statistics counters."""
    ours, legacy = pair
    for i in range(99):
        legacy.send(f"capacity!{i}", {})
    ours.send("capacity!last", {})
    with pytest.raises(ChannelFull):
        ours.send("capacity!over", {})
    with pytest.raises(Exception, match="ChannelFull"):
        legacy.send("capacity!over", {})
    stats = ours.global_statistics()
    assert stats["messages_count"] == 100 and stats["channel_full_count"] == 2
    assert legacy.global_statistics() == {"messages_count": 100, "channel_full_count": 2}


def test_flush_clears_the_other_sides_data(pair: tuple[RedisChannelLayer, LegacyLayer]) -> None:
    """Our flush (SCAN-based) removes what asgi_redis wrote, and asgi_redis's flush removes ours."""
    ours, legacy = pair
    legacy.send("flushme", {})
    legacy.group_add("fg", "flushme")
    ours.flush()
    assert ours.receive(["flushme"]) == (None, None)
    assert ours.group_channels("fg") == []
    ours.send("flushme!x", {})
    legacy.flush()
    assert ours.receive(["flushme!"]) == (None, None)

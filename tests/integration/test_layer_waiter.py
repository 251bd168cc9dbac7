"""The Redis layer's one blocking waiter, on a real ring of redis-servers: no threads per wait, losers released,
every thread's connections closed by close()."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import redis as redis_py

from channellayer.redis import RedisChannelLayer
from channellayer.redis_keyspace import consistent_hash
from tests.support.processes import RedisServer, redis_servers

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def ring() -> Iterator[list[RedisServer]]:
    with redis_servers(3) as servers:
        yield servers


@pytest.fixture
def layer(ring: list[RedisServer]) -> Iterator[RedisChannelLayer]:
    made = RedisChannelLayer(hosts=[s.address for s in ring], blocking_timeout=2)
    made.flush()
    yield made
    made.close()


def blocked_blpops(server: RedisServer) -> int:
    return sum(1 for c in server.client().client_list() if c.get("cmd") == "blpop" and "b" in c.get("flags", ""))


def our_connections(server: RedisServer) -> int:
    return int(server.client().info("clients")["connected_clients"]) - 1  # minus the one asking


def test_idle_blocking_receive_on_a_ring_starts_no_threads(layer: RedisChannelLayer) -> None:
    """An idle receive(block=True) on 3 shards waits in the portal's loop: the thread count grows by that one only."""
    layer.receive(["warm-up"], block=False)
    before = set(threading.enumerate())
    began = time.monotonic()
    assert layer.receive(["nobody.sends.here"], block=True) == (None, None)
    assert 1.5 < time.monotonic() - began < 4
    added = set(threading.enumerate()) - before
    assert [t.name for t in added] == ["channellayer-portal"]
    assert layer.receive(["nobody.sends.here"], block=True) == (None, None)
    assert set(threading.enumerate()) - before == added


def test_a_message_on_one_shard_releases_the_waits_on_the_others(
    layer: RedisChannelLayer, ring: list[RedisServer]
) -> None:
    """When one shard's BLPOP wins, the BLPOPs on the other shards are unblocked at once, not left to time out."""
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(layer.receive(["work"], block=True)))
    waiter.start()
    deadline = time.monotonic() + 3
    while sum(blocked_blpops(s) for s in ring) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(blocked_blpops(s) for s in ring) == 3
    layer.send("work", {"n": 1})
    waiter.join(3)
    assert got == [("work", {"n": 1})]
    deadline = time.monotonic() + 0.5
    while sum(blocked_blpops(s) for s in ring) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(blocked_blpops(s) for s in ring) == 0


def test_many_waiters_many_messages_nothing_lost_or_doubled(layer: RedisChannelLayer) -> None:
    """8 threads blocking on a 3-shard ring receive 400 messages sent one by one: each exactly once."""
    received: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            channel, message = layer.receive(["jobs"], block=True)
            if message is not None:
                with lock:
                    received.append(message["n"])

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for n in range(400):
        layer.send("jobs", {"n": n})
        if n % 50 == 0:
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while len(received) < 400 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join(5)
    assert sorted(received) == list(range(400))


def test_async_receive_cancelled_while_waiting_loses_nothing(layer: RedisChannelLayer) -> None:
    """Cancelling receive_async mid-wait leaves later messages on their lists for the next receiver."""

    async def scenario() -> None:
        task = asyncio.ensure_future(layer.receive_async(["cancel.me"]))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await layer.send_async("cancel.me", {"kept": True})
        await asyncio.sleep(0.1)
        assert await layer.receive_async(["cancel.me"]) == ("cancel.me", {"kept": True})
        await layer.aclose()

    asyncio.run(scenario())


def test_close_closes_connections_of_every_thread(ring: list[RedisServer]) -> None:
    """close() from one thread closes the hot-path connections other threads opened, and the portal's."""
    baseline = [our_connections(s) for s in ring]
    made = RedisChannelLayer(hosts=[s.address for s in ring], blocking_timeout=1)
    target = "proc.X!"
    home = consistent_hash(target, 3)

    def use() -> None:
        made.send(target, {"x": 1})
        made.receive([target], block=False)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made.receive(["idle"], block=True)  # the portal's connections, one per shard
    assert our_connections(ring[home]) >= baseline[home] + 4
    made.close()
    deadline = time.monotonic() + 2
    while [our_connections(s) for s in ring] != baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [our_connections(s) for s in ring] == baseline


def test_sync_receive_survives_a_restart_of_a_shard(ring: list[RedisServer]) -> None:
    """A shard that restarts between blocking receives costs one BackendUnavailable at most, then works again."""
    server = RedisServer()
    made = RedisChannelLayer(hosts=[server.address], blocking_timeout=1)
    try:
        made.send("r", {"a": 1})
        assert made.receive(["r"], block=True) == ("r", {"a": 1})
        server.stop()
        server.start()
        for _ in range(2):
            try:
                made.send("r", {"a": 2})
                break
            except made.BackendUnavailable:
                continue
        assert made.receive(["r"], block=True) == ("r", {"a": 2})
    finally:
        made.close()
        server.stop()


def test_client_unblock_refused_by_acl_still_receives(ring: list[RedisServer]) -> None:
    """Where ACLs forbid CLIENT, ring receives still work (losers end at their timeout instead of at once)."""
    admin = redis_py.Redis(*ring[0].address)
    admin.acl_setuser("limited", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-client"])
    urls = [f"redis://limited:pw@127.0.0.1:{ring[0].port}/0"] + [s.url for s in ring[1:]]
    made = RedisChannelLayer(hosts=urls, blocking_timeout=1)
    try:
        made.flush()
        made.send("acl.test", {"ok": 1})
        got = made.receive(["acl.test"], block=True)
        assert got == ("acl.test", {"ok": 1})
        sent = threading.Timer(0.3, lambda: made.send("acl.test", {"ok": 2}))
        sent.start()
        assert made.receive(["acl.test"], block=True) == ("acl.test", {"ok": 2})
    finally:
        made.close()
        admin.acl_deluser("limited")

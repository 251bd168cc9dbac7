"""Failure behaviour against real redis-server processes: stopped, paused, restarted, failed over."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis as redis_py

from channellayer import BackendUnavailable, get_channel_layer
from tests.support.processes import RedisServer, Sentinel

pytestmark = pytest.mark.redis


def test_stopped_redis_raises_backend_unavailable_then_recovers(own_redis: RedisServer) -> None:
    """With Redis gone every call raises BackendUnavailable at once; when it is back the same layer works."""
    layer = get_channel_layer("redis", {"hosts": [own_redis.address]})
    layer.send("f!a", {"n": 1})
    own_redis.stop()
    for call in (
        lambda: layer.send("f!a", {}),
        lambda: layer.receive(["f!"]),
        lambda: layer.group_add("g", "f!a"),
        lambda: layer.send_group("g", {}),
    ):
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=f"Redis at redis://127.0.0.1:{own_redis.port}/0 failed"):
            call()
        assert time.monotonic() - started < 2.0
    own_redis.start()
    layer.send("f!b", {"n": 2})
    assert layer.receive(["f!"]) == ("f!b", {"n": 2})
    layer.close()


def test_paused_redis_times_out_within_socket_timeout(own_redis: RedisServer) -> None:
    """A Redis that stops answering makes a call fail within the configured socket timeout, not hang."""
    layer = get_channel_layer("redis", {"hosts": [own_redis.address], "connection_kwargs": {"socket_timeout": 1}})
    layer.send("p!a", {})
    own_redis.pause()
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="Timeout"):
            layer.send("p!b", {})
        assert time.monotonic() - started < 2.5
    finally:
        own_redis.resume()
    assert layer.receive(["p!"])[0] == "p!a"
    layer.close()


def test_blocked_receive_fails_when_redis_dies(own_redis: RedisServer) -> None:
    """A receive blocked in BLPOP raises BackendUnavailable when Redis dies, instead of hanging."""
    layer = get_channel_layer("redis", {"hosts": [own_redis.address]})
    outcome: list[BaseException | tuple[object, object]] = []

    def receive() -> None:
        try:
            outcome.append(layer.receive(["nothing"], block=True))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.3)
    own_redis.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], BackendUnavailable)
    layer.close()


def test_async_calls_fail_and_recover(own_redis: RedisServer) -> None:
    """The asyncio extension raises BackendUnavailable while Redis is down and recovers on the same loop."""
    layer = get_channel_layer("redis", {"hosts": [own_redis.address]})

    async def scenario() -> None:
        await layer.send_async("a!x", {})
        own_redis.stop()
        with pytest.raises(BackendUnavailable):
            await layer.send_async("a!y", {})
        with pytest.raises(BackendUnavailable):
            await layer.receive_async(["a!"])
        own_redis.start()
        await layer.send_async("a!z", {"n": 3})
        assert await layer.receive_async(["a!"]) == ("a!z", {"n": 3})
        await layer.aclose()

    asyncio.run(scenario())
    layer.close()


def test_async_call_to_a_frozen_redis_times_out_then_recovers(own_redis: RedisServer) -> None:
    """A frozen Redis (SIGSTOP) fails an asyncio send and a blocked batch receive within their timeouts, not later."""
    layer = get_channel_layer(
        "redis", {"hosts": [own_redis.address], "blocking_timeout": 0.5, "connection_kwargs": {"socket_timeout": 1}}
    )

    async def scenario() -> None:
        await layer.send_async("fz!a", {"n": 1})
        own_redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="Timeout reading from Redis after 1"):
                await layer.send_async("fz!b", {})
            assert time.monotonic() - started < 2.5
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                await layer.receive_batch_async("fz!")
            assert time.monotonic() - started < 3.0  # the script call's 1 s (it never reaches its BLPOP)
        finally:
            own_redis.resume()
        # The timed-out send was already on the wire: Redis runs it when it thaws (a timeout is not a refusal).
        assert await layer.receive_batch_async("fz!") in ([("fz!a", {"n": 1})], [("fz!a", {"n": 1}), ("fz!b", {})])
        await layer.aclose()

    asyncio.run(scenario())
    layer.close()


def test_async_links_use_redis_py_connection_internals_we_expect(own_redis: RedisServer) -> None:
    """take_transport finds the asyncio transport under a connected redis.asyncio connection (fails loudly if not)."""
    import redis.asyncio as aioredis

    from channellayer.redis_async import take_transport

    async def scenario() -> None:
        client = aioredis.Redis(port=own_redis.port)
        conn = client.connection_pool.make_connection()
        await conn.connect()
        assert isinstance(take_transport(conn), asyncio.Transport)
        await conn.disconnect()
        with pytest.raises(RuntimeError, match="changed its connection internals"):
            take_transport(conn)
        await client.aclose()

    asyncio.run(scenario())


@pytest.mark.slow
def test_sentinel_failover_keeps_client_working() -> None:
    """After Sentinel promotes the replica, the same layer object sends and receives on the new master."""
    master = RedisServer()
    replica = RedisServer(extra=["--replicaof", "127.0.0.1", str(master.port)])
    sentinel = Sentinel(master, master_name="failover")
    layer = get_channel_layer(
        "sentinel",
        {
            "hosts": [sentinel.address],
            "services": ["failover"],
            "connection_kwargs": {"socket_timeout": 2, "socket_connect_timeout": 1},
        },
    )
    try:
        deadline = time.monotonic() + 15
        while replica.client().info("replication")["master_link_status"] != "up":
            assert time.monotonic() < deadline, "replica never synced"
            time.sleep(0.1)
        layer.send("fo!before", {"n": 1})
        assert layer.receive(["fo!"]) == ("fo!before", {"n": 1})
        master.stop()
        sentinel_client = redis_py.Redis(*sentinel.address)
        deadline = time.monotonic() + 30
        while int(sentinel_client.sentinel_get_master_addr_by_name("failover")[1]) != replica.port:
            assert time.monotonic() < deadline, "sentinel did not fail over"
            time.sleep(0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                layer.send("fo!after", {"n": 2})
                break
            except BackendUnavailable:
                assert time.monotonic() < deadline, "layer never reached the new master"
                time.sleep(0.2)
        assert layer.receive(["fo!"]) == ("fo!after", {"n": 2})
        assert replica.client().info("replication")["role"] == "master"
    finally:
        layer.close()
        sentinel.stop()
        replica.stop()
        master.stop()

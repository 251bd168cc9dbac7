"""The redis-cluster backend on a real 3-master + 3-replica cluster: format, resharding, failover under load."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from redis.crc import key_slot

from channellayer import RedisClusterChannelLayer, get_channel_layer
from tests.integration.is_support import DAPHNE
from tests.support.processes import ManagedProcess, RedisServer, free_port, start_server
from tests.support.redis_cluster import RedisClusterNodes

pytestmark = [pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterNodes]:
    nodes = RedisClusterNodes()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def layer(cluster: RedisClusterNodes) -> Iterator[RedisClusterChannelLayer]:
    made = get_channel_layer("redis-cluster", {"hosts": [cluster.hosts[0]], "blocking_timeout": 2})
    assert isinstance(made, RedisClusterChannelLayer)
    made.flush()
    yield made
    made.flush()
    made.close()


def test_alias_and_export() -> None:
    """The alias, the dotted paths and the package attribute all name RedisClusterChannelLayer."""
    import channellayer
    from channellayer.registry import resolve_backend

    assert channellayer.RedisClusterChannelLayer is RedisClusterChannelLayer
    for name in (
        "redis-cluster",
        "channellayer.RedisClusterChannelLayer",
        "channellayer.redis_cluster.RedisClusterChannelLayer",
    ):
        assert resolve_backend(name) is RedisClusterChannelLayer


def test_bad_options_are_named() -> None:
    """A prefix with a brace (it would break the hash tags) and a unix socket host raise ValueError naming them."""
    with pytest.raises(ValueError, match="prefix must be a non-empty str without"):
        RedisClusterChannelLayer(hosts=[("127.0.0.1", 1)], prefix="a{b}:")
    with pytest.raises(ValueError, match="reached over TCP, not a unix socket"):
        RedisClusterChannelLayer(hosts=["unix:///tmp/redis.sock"])


def test_every_key_of_a_send_shares_one_slot(cluster: RedisClusterNodes, layer: RedisClusterChannelLayer) -> None:
    """A send writes only keys in the slot of its list: the list, its two counters (and no message keys)."""
    layer.send("fmt.test!abc", {"n": 1})
    layer.send("fmt.test!abc", {"n": 2}, capacity=5)
    keys: set[bytes] = set()
    for node in cluster.masters():
        keys.update(node.client().scan_iter(match="asgi*"))
    assert keys == {
        b"asgi:{fmt.test!}",
        b"asgi-meta:{fmt.test!}:messages_count",
        b"asgi-meta:{fmt.test!}:channel_full_count",
    }
    assert len({key_slot(k) for k in keys}) == 1
    owner = cluster.master_for_key("asgi:{fmt.test!}").client()
    assert owner.llen("asgi:{fmt.test!}") == 2
    assert 0 < owner.ttl("asgi:{fmt.test!}") <= layer.expiry + 1


def test_group_send_is_one_script_call_per_slot(cluster: RedisClusterNodes, layer: RedisClusterChannelLayer) -> None:
    """A group of 200 members on 2 process lists plus 3 normal channels costs 5 group-send calls, not 203."""
    members = [f"gs.one!{i}" for i in range(100)] + [f"gs.two!{i}" for i in range(100)] + ["gs.a", "gs.b", "gs.c"]
    for member in members:
        layer.group_add("room", member)
    batches = layer._group_batches(layer.group_channels("room"), {"t": 1})
    calls = layer._group_calls(batches)
    slots = {key_slot(layer._list_key(t).encode()) for t in batches}
    assert len(calls) == len(slots) <= 5
    assert all(len({key_slot(k.encode()) for k in keys}) == 1 for keys, _ in calls)
    layer.send_group("room", {"t": 0})  # loads the script on each node (a NOSCRIPT reply counts as a call)
    layer.flush()
    for member in members:
        layer.group_add("room", member)
    before = {
        n.port: n.client().info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) for n in cluster.masters()
    }
    assert layer.send_group("room", {"t": 1}) == 203
    after = {
        n.port: n.client().info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) for n in cluster.masters()
    }
    assert sum(after.values()) - sum(before.values()) == len(slots)
    assert len([1 for _ in iter(lambda: layer.receive(["gs.one!"])[0], None)]) == 100


def _migrate_slot(
    cluster: RedisClusterNodes,
    key: str,
    stop_at_ask: threading.Event | None = None,
    resume: threading.Event | None = None,
) -> tuple[RedisServer, RedisServer]:
    """Move ``key``'s slot (and every key in it) to another master with CLUSTER SETSLOT + MIGRATE."""
    source = cluster.master_for_key(key)
    target = next(m for m in cluster.masters() if m.port != source.port)
    slot = key_slot(key.encode())
    src, dst = source.client(), target.client()
    src_id, dst_id = cluster.node_id(source), cluster.node_id(target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    if keys:
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    if stop_at_ask is not None and resume is not None:
        stop_at_ask.set()
        assert resume.wait(30)
    for node in cluster.masters():
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    return source, target


def test_resharding_a_live_list_is_followed_through_ask_and_moved(
    cluster: RedisClusterNodes, layer: RedisClusterChannelLayer
) -> None:
    """While a live list's slot migrates, sends and receives follow ASK; once moved, MOVED; nothing is lost."""
    for n in range(5):
        layer.send("reshard.live", {"n": n})
    at_ask, resume = threading.Event(), threading.Event()
    result: list[tuple[RedisServer, RedisServer]] = []
    mover = threading.Thread(
        target=lambda: result.append(_migrate_slot(cluster, "asgi:{reshard.live}", at_ask, resume))
    )
    mover.start()
    try:
        assert at_ask.wait(30)
        # The slot is MIGRATING on the old owner and its keys are on the new one: every call is ASKed there.
        layer.send("reshard.live", {"n": 5})
        assert layer.receive(["reshard.live"]) == ("reshard.live", {"n": 0})
        assert asyncio.run(_async_round(layer, "reshard.live", 6)) == ("reshard.live", {"n": 1})
    finally:
        resume.set()
        mover.join()
    source, target = result[0]
    assert target.client().llen("asgi:{reshard.live}") == 5
    # Now the old owner answers MOVED; the client follows and learns the new map.
    got = [layer.receive(["reshard.live"])[1] for _ in range(5)]
    assert [m["n"] for m in got if m] == [2, 3, 4, 5, 6]
    layer.send("reshard.live", {"n": 7})
    assert layer.receive(["reshard.live"], block=True) == ("reshard.live", {"n": 7})
    assert cluster.master_for_key("asgi:{reshard.live}").port == target.port != source.port


async def _async_round(layer: RedisClusterChannelLayer, channel: str, n: int) -> tuple[str | None, object]:
    try:
        await layer.send_async(channel, {"n": n})
        return await layer.receive_async([channel])
    finally:
        await layer.aclose()


def test_async_client_follows_moved_after_a_reshard(
    cluster: RedisClusterNodes, layer: RedisClusterChannelLayer
) -> None:
    """An event loop's cluster client that learnt the old slot map follows MOVED once the slot has moved."""

    async def scenario() -> list[object]:
        try:
            await layer.send_async("reshard.async!a", {"n": 0})
            first = await layer.receive_async(["reshard.async!"])
            await asyncio.to_thread(_migrate_slot, cluster, "asgi:{reshard.async!}")
            await layer.send_async("reshard.async!b", {"n": 1})
            layer.group_add("moved-group", "reshard.async!c")
            sent = await layer.send_group_async("moved-group", {"n": 2})
            batch = await layer.receive_batch_async("reshard.async!", limit=5)
            return [first, sent, batch]
        finally:
            await layer.aclose()

    first, sent, batch = asyncio.run(scenario())
    assert first == ("reshard.async!a", {"n": 0})
    assert sent == 1
    assert batch == [("reshard.async!b", {"n": 1}), ("reshard.async!c", {"n": 2})]


def test_blocked_receive_survives_its_slot_moving(cluster: RedisClusterNodes, layer: RedisClusterChannelLayer) -> None:
    """A receive blocked on a list whose slot moves to another master still gets the message sent after the move."""
    got: list[object] = []

    def receiver() -> None:
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            try:
                channel, message = layer.receive(["reshard.blocked"], block=True)
            except layer.BackendUnavailable:
                continue
            if channel is not None:
                got.append(message)

    thread = threading.Thread(target=receiver)
    thread.start()
    time.sleep(0.3)
    _migrate_slot(cluster, "asgi:{reshard.blocked}")
    layer.send("reshard.blocked", {"after": "move"})
    thread.join(25)
    assert got == [{"after": "move"}]


def test_redis_cli_reshard_under_traffic_loses_and_duplicates_nothing(
    cluster: RedisClusterNodes, layer: RedisClusterChannelLayer
) -> None:
    """`redis-cli --cluster reshard` moves 1,000 slots holding 20 live lists while messages flow: all arrive, once."""
    from tests.support.redis_cluster import REDIS_CLI

    source = cluster.master_for_key("asgi:{reshard.bulk.0}")
    lowest = min(int(e[0]) for e in source.client().execute_command("CLUSTER", "SLOTS") if int(e[2][1]) == source.port)
    names: list[str] = []
    n = 0
    while len(names) < 20:
        name = f"reshard.bulk.{n}"
        if lowest <= key_slot(f"asgi:{{{name}}}".encode()) < lowest + 1000:
            names.append(name)
        n += 1
    target = next(m for m in cluster.masters() if m.port != source.port)
    sent: list[int] = []
    received: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()  # the sender stops first; the receiver then drains what was sent
    drained = threading.Event()
    stop_sending = threading.Event()

    def sender() -> None:
        i = 0
        while not stop_sending.is_set():
            try:
                layer.send(names[i % len(names)], {"i": i})
                sent.append(i)
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                errors.append(exc)
            i += 1
            time.sleep(0.002)

    def receiver() -> None:
        deadline = None
        while not drained.is_set():
            try:
                channel, message = layer.receive(names)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                continue
            if channel is None:
                if stop.is_set():
                    # The sender has stopped (joined): everything it counted is in Redis. Drain it, but
                    # give up after 10 s of finding nothing so a lost message fails the assert below.
                    deadline = deadline or time.monotonic() + 10
                    if len(received) >= len(sent) or time.monotonic() > deadline:
                        return
                time.sleep(0.005)
            else:
                assert message is not None
                received.append(message["i"])

    threads = [threading.Thread(target=sender), threading.Thread(target=receiver)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    done = subprocess.run(
        [
            REDIS_CLI,
            "--cluster",
            "reshard",
            f"127.0.0.1:{source.port}",
            "--cluster-from",
            cluster.node_id(source),
            "--cluster-to",
            cluster.node_id(target),
            "--cluster-slots",
            "1000",
            "--cluster-yes",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    time.sleep(0.5)
    stop_sending.set()
    threads[0].join(30)
    stop.set()
    threads[1].join(30)
    drained.set()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert cluster.master_for_key(f"asgi:{{{names[0]}}}").port == target.port
    assert errors == []
    assert len(sent) > 100
    assert sorted(received) == sorted(sent)


# -- a failover under a running interface server and worker pool ----------------------------------------

_SETTINGS = """\
from tests.djangoapp_http.settings import *  # noqa
CHANNEL_LAYERS = {{"default": {{"BACKEND": "redis-cluster", "ROUTING": "tests.djangoapp_http.routing.channel_routing",
                              "CONFIG": {{"hosts": {hosts!r}, "blocking_timeout": 1}}}}}}
"""

_LAYER = """\
from channellayer import get_channel_layer
channel_layer = get_channel_layer("redis-cluster", {{"hosts": {hosts!r}}})
"""


@pytest.mark.slow
def test_failover_is_survived_by_interface_server_and_workers(tmp_path: Path) -> None:
    """SIGKILL the master of http.request: after its replica takes over, the same daphne and runworkers serve again."""
    cluster = RedisClusterNodes()
    processes: list[ManagedProcess] = []
    try:
        hosts = cluster.hosts
        (tmp_path / "cluster_settings.py").write_text(_SETTINGS.format(hosts=hosts))
        (tmp_path / "cluster_layer.py").write_text(_LAYER.format(hosts=hosts))
        env = {
            **os.environ,
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "cluster_settings",
        }
        env.pop("TEST_REDIS_PORT", None)
        daphne = start_server(
            "daphne-cluster",
            lambda port: [DAPHNE, "-p", str(port), "cluster_layer:channel_layer"],
            env=env,
            cwd=str(ROOT),
            timeout=20,
        )
        processes.append(daphne)
        for _ in range(2):
            processes.append(
                ManagedProcess(
                    "runworker-cluster",
                    [sys.executable, "-m", "django", "runworker", "--settings=cluster_settings", "--threads", "2"],
                    env=env,
                    cwd=str(ROOT),
                )
            )
        url = f"http://127.0.0.1:{daphne.port}/echo/"

        def served() -> bool:
            try:
                return requests.get(url, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        deadline = time.monotonic() + 30
        while not served():
            assert time.monotonic() < deadline, "the stack never served a request before the failover"
        assert all(served() for _ in range(10))
        pids = [p.pid for p in processes]

        victim = cluster.master_for_key("asgi:{http.request}")
        cluster.kill(victim)
        killed_at = time.monotonic()
        outcomes: list[bool] = []
        while time.monotonic() - killed_at < 40:
            outcomes.append(served())
            if len(outcomes) >= 10 and all(outcomes[-10:]) and time.monotonic() - killed_at > 2:
                break
            time.sleep(0.1)
        recovered = time.monotonic() - killed_at
        assert len(outcomes) >= 10 and all(outcomes[-10:]), f"not serving again 40 s after the failover: {outcomes}"
        assert cluster.master_for_key("asgi:{http.request}").port != victim.port
        assert [p.pid for p in processes] == pids and all(p.alive() for p in processes), "a process restarted or died"
        print(f"failover: serving again {recovered:.1f} s after SIGKILL; {outcomes.count(False)} failed requests")
    finally:
        for process in processes:
            process.stop()
        cluster.stop()


def test_layer_errors_during_an_outage_are_backend_unavailable(tmp_path: Path) -> None:
    """With every node gone, a send raises BackendUnavailable naming the cluster, not a redis-py error."""
    port = free_port()  # nothing is meant to listen here: the layer must find no node at all
    layer = RedisClusterChannelLayer(hosts=[("127.0.0.1", port)], connection_kwargs={"socket_connect_timeout": 0.5})
    with pytest.raises(layer.BackendUnavailable, match=rf"Redis Cluster \(redis://127.0.0.1:{port}/0\) failed"):
        layer.send("x", {})
    assert not isinstance(layer.BackendUnavailable(), redis.RedisError)

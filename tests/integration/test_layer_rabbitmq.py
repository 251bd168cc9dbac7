"""The rabbitmq backend on a real rabbitmq-server of its own: queue arguments, consumers, groups, the full stack."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
import requests
import websocket

from channellayer import ChannelFull, RabbitMQChannelLayer, get_channel_layer
from channellayer.registry import resolve_backend
from tests.integration.is_support import DAPHNE
from tests.support.processes import ManagedProcess, free_port, start_server
from tests.support.rabbitmq import RABBITMQCTL, RabbitMQServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker() -> Iterator[RabbitMQServer]:
    server = RabbitMQServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def layer(broker: RabbitMQServer) -> Iterator[RabbitMQChannelLayer]:
    made = get_channel_layer("rabbitmq", {"url": broker.url, "blocking_timeout": 2})
    assert isinstance(made, RabbitMQChannelLayer)
    yield made
    made.flush()
    made.close()


def queues(broker: RabbitMQServer) -> dict[str, list[str]]:
    """``rabbitmqctl list_queues``: name -> [messages, consumers, arguments]."""
    out = subprocess.run(
        [
            RABBITMQCTL,
            "-n",
            broker.node,
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages",
            "consumers",
            "arguments",
        ],
        env=broker.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {row.split("\t")[0]: row.split("\t")[1:] for row in out.splitlines() if row.strip()}


def test_aliases() -> None:
    """rabbitmq and both asgi_rabbitmq paths resolve to RabbitMQChannelLayer; an http URL is refused by name."""
    for name in (
        "rabbitmq",
        "asgi_rabbitmq.RabbitmqChannelLayer",
        "asgi_rabbitmq.core.RabbitmqChannelLayer",
        "channellayer.RabbitMQChannelLayer",
    ):
        assert resolve_backend(name) is RabbitMQChannelLayer
    with pytest.raises(ValueError, match="url must be an amqp:// or amqps:// URL, not 'http://x'"):
        RabbitMQChannelLayer(url="http://x")
    with pytest.raises(TypeError, match="RabbitMQChannelLayer has no option 'hosts'"):
        get_channel_layer("asgi_rabbitmq.RabbitmqChannelLayer", {"hosts": []})


def test_asgi_rabbitmq_config_keys(broker: RabbitMQServer) -> None:
    """The CONFIG keys of asgi_rabbitmq build a layer: url, expiry, group_expiry, capacity, channel_capacity, keys."""
    made = get_channel_layer(
        "asgi_rabbitmq.RabbitmqChannelLayer",
        {
            "url": broker.url,
            "expiry": 30,
            "group_expiry": 600,
            "capacity": 7,
            "channel_capacity": {"http.request": 3},
            "symmetric_encryption_keys": ["secret"],
        },
    )
    try:
        made.send("cfg.test", {"ok": True})
        assert made.receive(["cfg.test"]) == ("cfg.test", {"ok": True})
        assert made.get_capacity("http.request") == 3
    finally:
        made.flush()
        made.close()


def test_queue_carries_ttl_length_and_overflow(broker: RabbitMQServer, layer: RabbitMQChannelLayer) -> None:
    """A list's queue is declared with x-message-ttl = expiry, x-max-length = capacity, reject-publish, x-expires."""
    layer.send("args.test!a", {})
    row = queues(broker)["args.test!"]
    assert row[0] == "1"
    for part in ("x-message-ttl", "60000", "x-max-length", "100", "x-overflow", "reject-publish", "x-expires"):
        assert part in row[2]


def test_full_queue_nacks_into_channel_full(broker: RabbitMQServer) -> None:
    """The broker's reject-publish nack (confirm mode) is what raises ChannelFull, counted in the statistics."""
    made = RabbitMQChannelLayer(url=broker.url, capacity=2)
    try:
        made.send("nack.test", {})
        made.send("nack.test", {})
        with pytest.raises(ChannelFull, match="'nack.test' is at its capacity of 2"):
            made.send("nack.test", {})
        assert queues(broker)["nack.test"][0] == "2"
        assert made.global_statistics()["channel_full_count"] == 1
    finally:
        made.flush()
        made.close()


def test_blocking_receive_is_a_consumer_not_a_poll(broker: RabbitMQServer) -> None:
    """While a receive blocks, its queue has exactly one consumer (a push subscription); it is gone afterwards."""
    # A long timeout: rabbitmqctl itself takes about a second to start and ask.
    layer = RabbitMQChannelLayer(url=broker.url, blocking_timeout=20)
    layer.send("consume.test", {"warm": 1})
    assert layer.receive(["consume.test"])[0] == "consume.test"
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(layer.receive(["consume.test"], block=True)))
    thread.start()
    time.sleep(0.7)
    assert queues(broker)["consume.test"][1] == "1"
    layer.send("consume.test", {"n": 1})
    started = time.monotonic()
    thread.join(20)
    assert result == [("consume.test", {"n": 1})]
    assert time.monotonic() - started < 5, "the send woke the blocked receive (it did not wait out its timeout)"
    assert queues(broker)["consume.test"][1] == "0"
    layer.flush()
    layer.close()


def test_unread_messages_expire_in_the_broker(broker: RabbitMQServer) -> None:
    """With expiry=1 the broker itself drops the message (x-message-ttl): the queue is empty, not just skipped."""
    made = RabbitMQChannelLayer(url=broker.url, expiry=1)
    try:
        made.send("ttl.test", {})
        time.sleep(1.3)
        assert made.channel_statistics("ttl.test")["messages_pending"] == 0
        assert made.receive(["ttl.test"]) == (None, None)
    finally:
        made.flush()
        made.close()


def test_concurrent_group_adds_from_processes_lose_nothing(broker: RabbitMQServer, layer: RabbitMQChannelLayer) -> None:
    """Three processes adding 30 members each at once to one group leave all 90 (the group lock serialises them)."""
    script = (
        "import sys\nfrom channellayer import RabbitMQChannelLayer\n"
        "layer = RabbitMQChannelLayer(url=sys.argv[1])\n"
        "for i in range(30):\n    layer.group_add('crowded', f'member{sys.argv[2]}.{i}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script, broker.url, str(n)], env=env) for n in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    members = layer.group_channels("crowded")
    assert len(members) == 90 and len(set(members)) == 90
    layer.group_discard("crowded", "member0.0")
    assert layer.send_group("crowded", {"hi": 1}) == 89


def test_group_send_to_one_process_is_one_batch_message(broker: RabbitMQServer, layer: RabbitMQChannelLayer) -> None:
    """200 members on one process list cost one queued AMQP message, unpacked into 200 receives in order."""
    members = [f"batch.proc!{i:03d}" for i in range(200)]
    for member in members:
        layer.group_add("batchers", member)
    assert layer.send_group("batchers", {"t": "x"}) == 200
    assert queues(broker)["batch.proc!"][0] == "1"
    got = [layer.receive(["batch.proc!"])[0] for _ in range(200)]
    assert sorted(got) == members  # type: ignore[type-var]
    assert layer.receive(["batch.proc!"]) == (None, None)


def test_queue_deleted_behind_the_layer_is_declared_again(broker: RabbitMQServer, layer: RabbitMQChannelLayer) -> None:
    """After another process's flush deleted a queue this layer had declared, receive and send just work again."""
    layer.send("gone.test", {"n": 1})
    assert layer.receive(["gone.test"])[1] == {"n": 1}
    other = RabbitMQChannelLayer(url=broker.url)
    other.send("gone.test", {"n": 2})
    other.flush()
    other.close()
    assert "gone.test" not in queues(broker)
    assert layer.receive(["gone.test"]) == (None, None)
    assert layer.receive(["gone.test"], block=True) == (None, None)
    layer.send("gone.test", {"n": 3})
    assert layer.receive(["gone.test"]) == ("gone.test", {"n": 3})


def test_connection_closed_by_the_broker_is_reopened(broker: RabbitMQServer, layer: RabbitMQChannelLayer) -> None:
    """After the broker closes every client connection, the next send and receive open a new one and work."""
    layer.send("reopen.test", {"n": 1})
    subprocess.run(
        [RABBITMQCTL, "-n", broker.node, "close_all_connections", "test"],
        env=broker.env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    time.sleep(0.3)
    layer.send("reopen.test", {"n": 2})
    assert [layer.receive(["reopen.test"])[1] for _ in range(2)] == [{"n": 1}, {"n": 2}]


def test_layer_errors_during_an_outage_are_backend_unavailable() -> None:
    """No broker at the URL: a send raises BackendUnavailable naming the broker (no password)."""
    port = free_port()  # nothing listens there on purpose: the race cannot matter
    made = RabbitMQChannelLayer(url=f"amqp://guest:secret@127.0.0.1:{port}/%2F?connection_attempts=1")
    with pytest.raises(made.BackendUnavailable, match=rf"RabbitMQ at amqp://127.0.0.1:{port}//") as info:
        made.send("x", {})
    assert "secret" not in str(info.value)


# -- the interface server and a worker pool on RabbitMQ ------------------------------------------------

_SETTINGS = """\
from tests.djangoapp_http.settings import *  # noqa
CHANNEL_LAYERS = {{"default": {{"BACKEND": "asgi_rabbitmq.RabbitmqChannelLayer",
                              "ROUTING": "tests.djangoapp_http.routing.channel_routing",
                              "CONFIG": {{"url": {url!r}, "blocking_timeout": 1}}}}}}
"""

_LAYER = """\
from channellayer import get_channel_layer
channel_layer = get_channel_layer("rabbitmq", {{"url": {url!r}, "blocking_timeout": 1}})
"""


@pytest.mark.slow
def test_daphne_and_runworkers_serve_http_and_websocket_groups(tmp_path: Path, broker: RabbitMQServer) -> None:
    """daphne and two runworkers on RabbitMQ: Django views answer 200 and a group chat reaches both sockets."""
    (tmp_path / "rabbit_settings.py").write_text(_SETTINGS.format(url=broker.url))
    (tmp_path / "rabbit_layer.py").write_text(_LAYER.format(url=broker.url))
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "rabbit_settings",
    }
    env.pop("TEST_REDIS_PORT", None)
    daphne = start_server(
        "daphne-rabbit",
        lambda port: [DAPHNE, "-p", str(port), "rabbit_layer:channel_layer"],
        env=env,
        cwd=str(ROOT),
        timeout=20,
    )
    port = daphne.port
    processes = [daphne]
    processes += [
        ManagedProcess(
            "runworker-rabbit",
            [sys.executable, "-m", "django", "runworker", "--settings=rabbit_settings"],
            env=env,
            cwd=str(ROOT),
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/echo/?x=1", timeout=5)
                if response.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "no 200 from the stack on RabbitMQ"
            time.sleep(0.2)
        statuses = [requests.get(f"http://127.0.0.1:{port}/echo/?n={n}", timeout=10).status_code for n in range(20)]
        assert statuses == [200] * 20
        sockets = [websocket.create_connection(f"ws://127.0.0.1:{port}/chat/lobby/", timeout=10) for _ in range(2)]
        time.sleep(0.5)  # both group_adds done by the workers
        sockets[0].send("hello room")
        assert [s.recv() for s in sockets] == ["hello room", "hello room"]
        for s in sockets:
            s.close()
    finally:
        for process in processes:
            process.stop()


def test_pika_reaches_the_test_broker_only(broker: RabbitMQServer) -> None:
    """The fixture's broker is its own node on its own port, never the machine's broker on 5672."""
    assert broker.port != 5672
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        assert connection.is_open
    finally:
        connection.close()
    assert broker.node.startswith("ccrabbit") and broker.node != "rabbit@localhost"

"""The delay server (reference §2.9, §5.12) on the in-memory layer: storing, dispatching, bad input, bytes, stop."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.core.management import CommandError, call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from channellayer import MemoryChannelLayer  # noqa: E402
from channels.delay.models import DelayedMessage  # noqa: E402
from worker.asgi import ChannelLayerWrapper  # noqa: E402
from worker.delay.content import decode_content, encode_content  # noqa: E402
from worker.delay.server import DelayServer, Worker  # noqa: E402


@pytest.fixture
def layer():
    DelayedMessage.objects.all().delete()
    yield ChannelLayerWrapper(MemoryChannelLayer(blocking_timeout=0.1), "default", [])
    DelayedMessage.objects.all().delete()


def test_content_json_when_exact_else_msgpack():
    """Plain JSON content is stored as JSON (1.1.8-readable); bytes or tuples go msgpack+base64 and come back."""
    assert encode_content({"text": "hi", "n": [1, 2]}) == '{"text": "hi", "n": [1, 2]}'
    packed = encode_content({"bytes": b"\x00\xff", "n": 1})
    assert packed.startswith("msgpack:")
    assert decode_content(packed) == {"bytes": b"\x00\xff", "n": 1}
    assert decode_content('{"legacy": true}') == {"legacy": True}


def test_content_errors():
    """Non-dict content is a TypeError to store; undecodable or non-dict stored text is a ValueError."""
    with pytest.raises(TypeError, match="must be a dict"):
        encode_content(["x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="undecodable delayed content"):
        decode_content("msgpack:!!!not base64")
    with pytest.raises(ValueError, match="not a dict"):
        decode_content("[1, 2]")


def test_receive_stores_row_with_due_date(layer):
    """A valid asgi.delay message becomes a row due `delay` ms from now."""
    server = DelayServer(layer)
    layer.send("asgi.delay", {"channel": "target", "content": {"bytes": b"\x01"}, "delay": 5000})
    before = timezone.now()
    row = server.receive_once(block=False)
    assert row is not None and row.channel_name == "target"
    assert timedelta(seconds=4.5) < row.due_date - before < timedelta(seconds=5.5)
    assert DelayedMessage.objects.get().get_content() == {"bytes": b"\x01"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"content": {}, "delay": 1}, "lacks 'channel'"),
        ({"channel": "x", "delay": 1}, "lacks 'content'"),
        ({"channel": "bad name!!", "content": {}, "delay": 1}, "bad 'channel'"),
        ({"channel": "x", "content": "text", "delay": 1}, "'content' must be a dict"),
        ({"channel": "x", "content": {}, "delay": "soon"}, "'delay' must be a non-negative int"),
        ({"channel": "x", "content": {}, "delay": -5}, "'delay' must be a non-negative int"),
    ],
)
def test_bad_message_is_logged_and_skipped(layer, caplog, message, error):
    """An invalid message is logged with the reason and skipped; the next valid one is still stored (no break)."""
    server = DelayServer(layer)
    layer.send("asgi.delay", message)
    layer.send("asgi.delay", {"channel": "good", "content": {"a": 1}, "delay": 0})
    with caplog.at_level(logging.ERROR, "django.channels"):
        assert server.receive_once(block=False) is None
    assert "Invalid message on asgi.delay, skipped" in caplog.text and error in caplog.text
    assert server.receive_once(block=False).channel_name == "good"


def test_dispatch_sends_due_rows_only(layer):
    """dispatch_once sends and deletes due rows, keeps future ones, and says how long to sleep."""
    server = DelayServer(layer, database_sleep=1.0)
    for delay, name in ((0, "now"), (60_000, "later")):
        layer.send("asgi.delay", {"channel": name, "content": {"bytes": b"\x00" + name.encode()}, "delay": delay})
        server.receive_once(block=False)
    wait = server.dispatch_once()
    assert layer.receive(["now"]) == ("now", {"bytes": b"\x00now"})
    assert layer.receive(["later"]) == (None, None)
    assert list(DelayedMessage.objects.values_list("channel_name", flat=True)) == ["later"]
    assert wait == 1.0  # next row is a minute away: capped at database_sleep


def test_dispatch_wait_until_next_due(layer):
    """With a row due in 300 ms, the dispatcher sleeps only until then."""
    server = DelayServer(layer, database_sleep=5.0)
    layer.send("asgi.delay", {"channel": "soon", "content": {}, "delay": 300})
    server.receive_once(block=False)
    assert 0.1 < server.dispatch_once() <= 0.3


def test_channel_full_requeues_one_second_later(layer):
    """A full destination keeps the row and makes it due again 1000 ms later."""
    full = ChannelLayerWrapper(MemoryChannelLayer(channel_capacity={"full.channel": 1}), "default", [])
    full.send("full.channel", {"occupying": True})
    server = DelayServer(full)
    full.send("asgi.delay", {"channel": "full.channel", "content": {"x": 1}, "delay": 0})
    server.receive_once(block=False)
    server.dispatch_once()
    row = DelayedMessage.objects.get()
    assert timedelta(seconds=0.8) < row.due_date - timezone.now() <= timedelta(seconds=1)


def test_legacy_json_row_is_sent(layer):
    """A row written by Channels 1.1.8 (JSON content) is delivered."""
    DelayedMessage.objects.create(channel_name="legacy", content='{"text": "old"}', due_date=timezone.now())
    DelayServer(layer).dispatch_once()
    assert layer.receive(["legacy"]) == ("legacy", {"text": "old"})
    assert not DelayedMessage.objects.exists()


def test_unreadable_row_is_deleted_not_fatal(layer, caplog):
    """A row with undecodable content is logged and deleted; the other due rows still go out."""
    DelayedMessage.objects.create(channel_name="broken", content="msgpack:%%%", due_date=timezone.now())
    DelayedMessage.objects.create(channel_name="fine", content="{}", due_date=timezone.now())
    with caplog.at_level(logging.ERROR, "django.channels"):
        DelayServer(layer).dispatch_once()
    assert "unreadable content" in caplog.text
    assert layer.receive(["fine"]) == ("fine", {})
    assert not DelayedMessage.objects.exists()


def test_claimed_row_is_sent_once(layer):
    """Two delay servers on one database: a row claimed by one is not sent by the other."""
    DelayedMessage.objects.create(channel_name="once", content="{}", due_date=timezone.now())
    first, second = DelayServer(layer), DelayServer(layer)
    stale = list(DelayedMessage.objects.is_due())  # what the second server read before the first claimed
    first.dispatch_once()
    for row in stale:
        second._dispatch(row)
    assert layer.receive(["once"]) == ("once", {})
    assert layer.receive(["once"]) == (None, None)


def test_run_delivers_and_stops(layer):
    """run() delivers a delayed message after its delay and returns promptly after stop()."""
    server = DelayServer(layer, database_sleep=1.0, signal_handlers=False)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        sent_at = time.monotonic()
        layer.send("asgi.delay", {"channel": "timed", "content": {"bytes": b"\xfe"}, "delay": 400})
        deadline = time.monotonic() + 5
        received = (None, None)
        while received == (None, None) and time.monotonic() < deadline:
            received = layer.receive(["timed"], block=True)
        elapsed = time.monotonic() - sent_at
        assert received == ("timed", {"bytes": b"\xfe"})
        assert 0.35 <= elapsed < 1.5
    finally:
        stopped_at = time.monotonic()
        server.stop()
        thread.join(5)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 2


def test_legacy_worker_signature(layer):
    """channels.delay.worker.Worker keeps 1.1.8's arguments (database_sleep_duration)."""
    worker = Worker(layer, signal_handlers=False, database_sleep_duration=3)
    assert worker.database_sleep == 3.0 and worker.signal_handlers is False


def test_rundelay_refuses_memory_layer():
    """rundelay with the in-memory layer is a CommandError (it cannot span processes)."""
    with pytest.raises(CommandError, match="in-memory layer"):
        call_command("rundelay")
    with pytest.raises(CommandError, match="--sleep must be positive"):
        call_command("rundelay", "--sleep", "0")


@pytest.mark.parametrize("command", ["rundelay", "runworker", "channels_status"])
def test_unknown_layer_alias_is_a_command_error_naming_it(command):
    """--layer naming no CHANNEL_LAYERS entry is a CommandError naming the alias, for each worker-side command."""
    with pytest.raises(CommandError, match="No channel layer named 'nope'"):
        call_command(command, "--layer", "nope")

"""The Channels 1.1.8 internals that users' tests build on: hand-made messages, ``termed``, patchable commands."""

from __future__ import annotations

import io
from unittest import mock

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.core.management import call_command  # noqa: E402
from django.http.multipartparser import MultiPartParserError  # noqa: E402

import channellayer  # noqa: E402
from channellayer import ChannelFull, MemoryChannelLayer  # noqa: E402
from tests.unit.worker_helpers import memory_layer  # noqa: E402
from worker.asgi import ChannelLayerWrapper, channel_layers  # noqa: E402
from worker.message import Message  # noqa: E402
from worker.request import AsgiRequest  # noqa: E402
from worker.routing import route  # noqa: E402
from worker.worker import Worker  # noqa: E402


class CountingWorker(Worker):
    """1.1.8 tests' PatchedWorker: ``termed`` turns True after N reads."""

    def get_termed(self):
        if not self.rounds:
            return True
        self.rounds -= 1
        return False

    def set_termed(self, value):
        self.rounds = value

    termed = property(get_termed, set_termed)


def test_message_without_channel_name():
    """Message(content, None, None): channel name None, default layer, reply channel; sending on it is a TypeError."""
    message = Message({"reply_channel": "test-reply"}, None, None)
    assert message.channel.name is None and message.channel_layer is None
    assert message.channel.channel_layer is channel_layers["default"]
    assert message.reply_channel.name == "test-reply"
    with pytest.raises(TypeError, match="no name"):
        message.channel.send({"x": 1})


def test_overridden_termed_ends_run_and_worker_runs_again():
    """A subclass's termed is read before each receive: run() handles N-1 messages, and can run again."""
    seen = []
    with memory_layer([route("test", lambda message: seen.append(message["n"]))], blocking_timeout=0.05) as layer:
        for n in range(3):
            layer.send("test", {"n": n})
        worker = CountingWorker(layer, signal_handlers=True)
        worker.termed = 3
        worker.run()
        assert len(seen) == 3 and worker.exit_code == 0
        worker.termed = 0
        worker.run()  # termed at once: nothing more is received
        layer.send("test", {"n": 3})
        worker.termed = 1
        worker.run()
        assert sorted(seen) == [0, 1, 2, 3]


def test_termed_true_stops_and_false_resumes():
    """worker.termed = True stops a worker before it receives; termed = False makes it runnable again."""
    seen = []
    with memory_layer([route("test", lambda message: seen.append(1))], blocking_timeout=0.05) as layer:
        layer.send("test", {})
        worker = Worker(layer, signal_handlers=False, max_messages=1)
        worker.termed = True
        worker.run()
        assert seen == [] and worker.termed
        worker.termed = False
        worker.run()
        assert seen == [1]


def test_local_only_is_decided_by_module_name():
    """Our memory layer and any *inmemory* module are local; a subclass defined elsewhere is not (1.1.8)."""

    class Subclass(MemoryChannelLayer):
        pass

    assert ChannelLayerWrapper(MemoryChannelLayer(), "a", []).local_only()
    assert not ChannelLayerWrapper(Subclass(), "a", []).local_only()
    Subclass.__module__ = "legacy.inmemory"
    assert ChannelLayerWrapper(Subclass(), "a", []).local_only()


def test_asgiref_inmemory_alias_holds_ten_messages():
    """BACKEND asgiref.inmemory.ChannelLayer has 1.1.8's capacity 10 unless CONFIG says otherwise."""
    layer = channellayer.get_channel_layer("asgiref.inmemory.ChannelLayer", {})
    for n in range(10):
        layer.send("c", {"n": n})
    with pytest.raises(ChannelFull):
        layer.send("c", {"n": 10})
    assert channellayer.get_channel_layer("asgiref.inmemory.ChannelLayer", {"capacity": 50}).capacity == 50
    assert channellayer.get_channel_layer("memory", {}).capacity == 100


def test_runworker_calls_patched_worker_with_118_keywords():
    """mock.patch('channels.management.commands.runworker.Worker') sees 1.1.8's call; new options only when set."""
    fake = ChannelLayerWrapper(type("FakeLayer", (MemoryChannelLayer,), {})(), "default", [])
    old = channel_layers.set("default", fake)
    try:
        with mock.patch("channels.management.commands.runworker.Worker") as patched:
            call_command("runworker", stdout=io.StringIO())
            patched.assert_called_once_with(
                channel_layer=fake, callback=None, only_channels=None, exclude_channels=None
            )
            call_command("runworker", "--drain-timeout", "3", stdout=io.StringIO())
            assert patched.call_args.kwargs["drain_timeout"] == 3.0
    finally:
        channel_layers.set("default", old)


def test_post_parse_error_flag():
    """AsgiRequest._post_parse_error is False, and True after a multipart body fails to parse."""
    base = {"reply_channel": "r", "http_version": "1.1", "method": "POST", "path": "/", "query_string": b""}
    good = AsgiRequest(
        Message(
            dict(base, body=b"a=1", headers=[[b"content-type", b"application/x-www-form-urlencoded"]]),
            "http.request",
            None,
        )
    )
    assert good.POST["a"] == "1" and good._post_parse_error is False
    bad = AsgiRequest(
        Message(
            dict(base, body=b"--x\r\nbroken", headers=[[b"content-type", b"multipart/form-data; boundary="]]),
            "http.request",
            None,
        )
    )
    with pytest.raises(MultiPartParserError):
        bad.POST  # noqa: B018
    assert bad._post_parse_error is True

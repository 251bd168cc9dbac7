"""channels.test (reference §5.11): ChannelTestCase layer swap, Client, WSClient, apply_routes, deprecated names."""

from __future__ import annotations

import importlib
import json
import sys
import unittest

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import TestCase  # noqa: E402

from channellayer import MemoryChannelLayer  # noqa: E402
from worker.asgi import channel_layers  # noqa: E402
from worker.auth import channel_session_user, channel_session_user_from_http  # noqa: E402
from worker.channel import Channel, Group  # noqa: E402
from worker.exceptions import WebsocketCloseException  # noqa: E402
from worker.routing import include, route  # noqa: E402
from worker.sessions import http_session  # noqa: E402
from worker.test import ChannelTestCase, Client, WSClient, apply_routes  # noqa: E402


def echo(message, **kwargs):
    message.reply_channel.send({"text": message.content.get("text", ""), "kwargs": kwargs})


def buffered(message):
    message.reply_channel.send({"n": 1})
    Channel("side.channel").send({"n": 2})
    assert channel_layers["default"].receive(["side.channel"]) == (None, None)  # not sent yet: atomic


def closer(message):
    raise WebsocketCloseException(4001)


def reject(message):
    message.reply_channel.send({"close": True})


@http_session
def http_session_echo(message):
    message.reply_channel.send({"text": json.dumps({"session_k": message.http_session.get("k")})})


@channel_session_user_from_http
def connect_user(message):
    message.reply_channel.send({"accept": True})


@channel_session_user
def who(message):
    message.reply_channel.send({"text": message.user.username or "anonymous"})


def db_query(message):
    message.reply_channel.send({"text": str(User.objects.count())})


class LayerSwapTests(ChannelTestCase):
    def test_fresh_memory_layer_per_test(self):
        """Inside a ChannelTestCase the default alias is a fresh in-memory layer keeping the configured routing."""
        layer = channel_layers["default"]
        assert isinstance(layer.channel_layer, MemoryChannelLayer)
        assert layer.channel_layer is not getattr(type(self), "_seen_layer", None)
        type(self)._seen_layer = layer.channel_layer
        Channel("swap.test").send({"a": 1})
        message = self.get_next_message("swap.test", require=True)
        assert message.content == {"a": 1} and message.channel.name == "swap.test"
        assert self.get_next_message("swap.test") is None

    test_fresh_memory_layer_again = test_fresh_memory_layer_per_test

    def test_require_fails_the_test(self):
        """get_next_message(require=True) on an empty channel fails the test with the channel named."""
        with pytest.raises(AssertionError, match="Expected a message on channel nothing.here, got none"):
            self.get_next_message("nothing.here", require=True)


def test_layer_restored_after_test():
    """The swapped layer is put back after the test case runs."""
    before = channel_layers["default"]
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(LayerSwapTests).run(result)
    assert result.wasSuccessful(), result.failures + result.errors
    assert channel_layers["default"] is before


class ClientTests(ChannelTestCase):
    @apply_routes([route("test.echo", echo, text=r"^(?P<word>\w+)$")])
    def test_send_and_consume_runs_routed_consumer(self):
        """Client.send_and_consume adds reply_channel, runs the matching consumer with its filter kwargs."""
        client = Client()
        assert client.reply_channel.startswith("default") and len(client.reply_channel) == len("default") + 5
        client.send_and_consume("test.echo", {"text": "hello"})
        assert client.receive() == {"text": "hello", "kwargs": {"word": "hello"}}
        assert client.receive() is None

    @apply_routes([route("test.buffered", buffered)])
    def test_sends_are_flushed_after_consumer(self):
        """Sends inside consume() are buffered until the consumer returns, then all delivered."""
        client = Client()
        client.send_and_consume("test.buffered")
        assert client.receive() == {"n": 1}
        assert self.get_next_message("side.channel", require=True).content == {"n": 2}

    @apply_routes([route("test.db", db_query)])
    def test_database_connection_kept_open(self):
        """consume() does not close the test's database connection (it holds the test transaction)."""
        User.objects.create(username="kept")
        client = Client()
        client.send_and_consume("test.db")
        assert client.receive() == {"text": "1"}
        assert connection.connection is not None and User.objects.filter(username="kept").exists()

    @apply_routes([route("websocket.receive", closer)])
    def test_channel_socket_exception_is_run(self):
        """A ChannelSocketException raised by the consumer is run, as the worker does."""
        client = Client()
        client.send_and_consume("websocket.receive", {"path": "/"})
        assert client.receive() == {"close": 4001}

    def test_missing_message_or_consumer(self):
        """consume() raises AssertionError for no message / no consumer, or returns None without fail_on_none."""
        client = Client()
        with pytest.raises(AssertionError, match="No message for channel nobody.home"):
            client.consume("nobody.home")
        assert client.consume("nobody.home", fail_on_none=False) is None
        client.send("unrouted.channel", {})
        with pytest.raises(AssertionError, match="Can't find consumer"):
            client.consume("unrouted.channel")

    @apply_routes([route("test.echo", echo)])
    def test_get_consumer_and_join_group(self):
        """get_consumer_by_channel finds the routed consumer; join_group adds the reply channel to a group."""
        client = Client()
        assert client.get_consumer_by_channel("test.echo") is echo
        client.join_group("helpers-group")
        Group("helpers-group").send({"g": 1})
        assert client.receive() == {"g": 1}


class WSClientTests(ChannelTestCase):
    @apply_routes([route("websocket.connect", echo)])
    def test_connect_message_shape(self):
        """As 1.1.8's client: str query_string, headers a dict (values as set, cookie bytes with the session)."""
        client = WSClient()
        client.set_header("x-thing", "v")
        client.set_cookie("flavour", "mint")
        assert client.headers["x-thing"] == "v" and b"flavour=mint" in client.headers["cookie"]
        client.send("websocket.connect", path="/chat/?room=1")
        message = self.get_next_message("websocket.connect", require=True)
        assert message["path"] == "/chat/" and message["query_string"] == "room=1"
        headers = message["headers"]
        assert sorted(headers) == ["cookie", "x-thing"] and headers["x-thing"] == "v"
        assert b"flavour=mint" in headers["cookie"] and b"sessionid=" in headers["cookie"]

    @apply_routes([route("websocket.connect", http_session_echo)])
    def test_dict_headers_reach_http_session_and_request(self):
        """The dict headers of a test client are read by http_session as Daphne's pairs are."""
        client = WSClient()
        client.session["k"] = "v"
        client.session.save(must_create=True)
        client.send_and_consume("websocket.connect", path="/s/?a=1", check_accept=False)
        assert client.receive() == {"session_k": "v"}

    def test_cookie_header_refused(self):
        """set_header('cookie', …) raises ValueError pointing to set_cookie."""
        with pytest.raises(ValueError, match="set_cookie"):
            WSClient().set_header("cookie", "a=b")

    @apply_routes([route("websocket.receive", echo)])
    def test_text_json_and_ordering(self):
        """Non-str text is JSON-encoded; ordered=True numbers messages; receive() JSON-decodes text."""
        client = WSClient(ordered=True)
        client.send("websocket.receive", text={"a": [1, 2]}, path="/x/?ignored=1")
        client.send("websocket.receive", text="plain")
        first = self.get_next_message("websocket.receive", require=True)
        second = self.get_next_message("websocket.receive", require=True)
        assert (first["text"], first["order"], first["path"]) == ('{"a": [1, 2]}', 0, "/x/")
        assert "query_string" not in first.content
        assert (second["text"], second["order"]) == ("plain", 1)
        with pytest.raises(ValueError, match="ordered=True"):
            client.send("websocket.receive", {"order": 5})
        client.send("websocket.receive", text={"b": 2})
        client.consume("websocket.receive")
        assert client.receive() == {"b": 2}

    @apply_routes([route("websocket.connect", reject)])
    def test_check_accept(self):
        """send_and_consume on connect asserts the reply was {"accept": True}."""
        with pytest.raises(AssertionError, match="Connection rejected"):
            WSClient().send_and_consume("websocket.connect")

    @apply_routes([route("websocket.connect", connect_user), route("websocket.receive", who)])
    def test_force_login_reaches_channel_session_user(self):
        """force_login puts the user in the HTTP session; channel_session_user_from_http carries it over."""
        user = User.objects.create_user("ada", password="pw")
        client = WSClient()
        client.force_login(user)
        client.send_and_consume("websocket.connect")
        client.send_and_consume("websocket.receive", text="?")
        assert client.receive(json=False) == "ada"
        other = WSClient()
        assert other.login(username="ada", password="wrong") is False
        assert other.login(username="ada", password="pw") is True


class ApplyRoutesTests(TestCase):
    def test_context_manager_restores(self):
        """apply_routes as a context manager swaps the router and restores it after."""
        layer = channel_layers["default"]
        old_router = layer.router
        with apply_routes([route("ctx.channel", echo)]):
            assert layer.router is not old_router and "ctx.channel" in layer.router.channels
        assert layer.router is old_router

    def test_list_of_lists_become_includes(self):
        """A list of route lists is installed as several includes."""
        with apply_routes([[route("inc.a", echo)], [route("inc.b", echo)]]):
            assert {"inc.a", "inc.b"} <= channel_layers["default"].router.channels

    def test_single_route(self):
        """A single routing object (not a list) is accepted."""
        with apply_routes(include([route("one.route", echo)])):
            assert "one.route" in channel_layers["default"].router.channels


@apply_routes([route("cls.channel", echo)])
class ClassDecoratedTests(TestCase):
    def test_routes_applied_in_each_test(self):
        """apply_routes on a TestCase class applies the routes around each test."""
        assert "cls.channel" in channel_layers["default"].router.channels


def test_class_decorator_restores_after():
    """After a class-decorated test ran, the original routes are back."""
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(ClassDecoratedTests).run(result)
    assert result.wasSuccessful(), result.failures + result.errors
    assert "cls.channel" not in channel_layers["default"].router.channels


def test_http_client_is_deprecated():
    """HttpClient still works as WSClient but warns with DeprecationWarning."""
    from channels.test import HttpClient

    with pytest.deprecated_call(match="WSClient"):
        client = HttpClient()
    assert isinstance(client, WSClient)


def test_channels_tests_module_is_deprecated():
    """Importing channels.tests warns (use channels.test) and gives the same helpers."""
    sys.modules.pop("channels.tests", None)
    with pytest.deprecated_call(match="channels.test"):
        module = importlib.import_module("channels.tests")
    assert module.ChannelTestCase is ChannelTestCase

"""Routing: route/route_class/include filters, dict routing, Router.check_default (reference §5.2)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.unit.worker_helpers import memory_layer, run_pending
from worker.message import Message
from worker.routing import Router, connect_consumer, include, null_consumer, route, route_class

calls: list[tuple[str, dict]] = []


def consumer_a(message, **kwargs):
    calls.append(("a", kwargs))


def consumer_b(message, **kwargs):
    calls.append(("b", kwargs))


def msg(channel: str, **content) -> Message:
    return Message(content, channel, channel_layer=None)


def test_route_matches_channel_and_filter_with_named_groups_as_kwargs():
    """A filter regex on a message key selects the route; its named groups become kwargs."""
    r = route("websocket.connect", consumer_a, path=r"^/chat/(?P<room>[^/]+)/$")
    assert r.match(msg("websocket.connect", path="/chat/lobby/")) == (consumer_a, {"room": "lobby"})
    assert r.match(msg("websocket.connect", path="/chat/lobby/x")) is None
    assert r.match(msg("websocket.receive", path="/chat/lobby/")) is None


def test_filter_is_anchored_at_start_only():
    """re.match semantics: a prefix matches unless the pattern ends with $."""
    r = route("http.request", consumer_a, path=r"^/a")
    assert r.match(msg("http.request", path="/abc/def")) is not None
    assert r.match(msg("http.request", path="/x/a")) is None


def test_positional_groups_are_refused():
    """Only named groups are allowed: a positional group raises ValueError naming the key."""
    with pytest.raises(ValueError, match="Filter for path .*positional groups"):
        route("http.request", consumer_a, path=r"^/(\d+)/$")


def test_message_without_filtered_key_does_not_match():
    """A message lacking the filtered key never matches the route."""
    assert route("http.request", consumer_a, method="^GET$").match(msg("http.request", path="/")) is None


def test_bytes_values_and_patterns_are_decoded_as_ascii():
    """Bytes message values and bytes patterns are compared as ASCII text."""
    r = route(b"custom", consumer_a, key=b"^v(?P<n>[0-9])")
    assert r.match(msg("custom", key=b"v7")) == (consumer_a, {"n": "7"})


def test_include_cuts_prefix_and_route_kwargs_win():
    """include matches its prefix, strips it for the sub-routes, and merges kwargs (route's win)."""
    sub = [route("http.request", consumer_a, path=r"^/(?P<section>[a-z]+)/(?P<id>[0-9]+)/$")]
    inc = include(sub, path=r"^/app(?P<id>[0-9]*)")
    consumer, kwargs = inc.match(msg("http.request", path="/app9/news/42/"))
    assert consumer is consumer_a and kwargs == {"section": "news", "id": "42"}
    assert inc.match(msg("http.request", path="/other/news/42/")) is None


def test_consumer_receives_the_original_message_through_include():
    """The prefix is cut from a copy: the consumer still sees the full, unmodified path."""
    seen = []
    routing = [
        include([route("http.request", lambda m, **kw: seen.append((m["path"], kw)), path=r"^/x/$")], path=r"^/pre")
    ]
    with memory_layer(routing) as layer:
        layer.send("http.request", {"path": "/pre/x/", "reply_channel": "r!1"})
        run_pending(layer)
    assert seen == [("/pre/x/", {})]


def test_include_accepts_a_dotted_path_and_dict_routing():
    """ROUTING may be a dotted path to a dict {channel: consumer}; it becomes routes."""
    router = Router("tests.unit.test_worker_routing.DICT_ROUTING")
    assert router.channels == {"custom.one", "custom.two"}
    assert router.match(msg("custom.two"))[0] is consumer_b


DICT_ROUTING = {"custom.one": consumer_a, "custom.two": "tests.unit.test_worker_routing.consumer_b"}


def test_bad_consumer_path_raises_improperly_configured():
    """A consumer given as an unimportable path fails at routing time with ImproperlyConfigured."""
    with pytest.raises(ImproperlyConfigured, match="Cannot import consumer 'nowhere.consumer'"):
        route("x", "nowhere.consumer")
    with pytest.raises(ImproperlyConfigured, match="Cannot import channel routing"):
        Router("nowhere.routing")


def test_route_class_takes_channels_from_channel_names():
    """route_class asks the class for channel_names(); a class without it is a ValueError."""

    class C:
        @classmethod
        def channel_names(cls):
            return {"one", "two"}

    assert route_class(C).channel_names() == {"one", "two"}
    with pytest.raises(ValueError, match="no valid channel_names"):
        route_class(object)


def test_router_first_match_wins_and_check_default_appends_after_user_routes():
    """User routes come first; check_default adds http.request/websocket.* but not http.disconnect."""
    router = Router([route("websocket.connect", consumer_a), route("websocket.connect", consumer_b)])
    sentinel = object()
    router.check_default(http_consumer=sentinel)
    assert router.match(msg("websocket.connect"))[0] is consumer_a
    assert router.match(msg("http.request"))[0] is sentinel
    assert router.match(msg("websocket.receive"))[0] is null_consumer
    assert router.match(msg("websocket.disconnect"))[0] is null_consumer
    assert router.channels == {"http.request", "websocket.connect", "websocket.receive", "websocket.disconnect"}
    assert router.match(msg("http.disconnect")) is None


def test_default_connect_consumer_accepts():
    """The default websocket.connect consumer replies {"accept": True}."""
    with memory_layer([route("websocket.connect", connect_consumer)]) as layer:
        layer.send("websocket.connect", {"reply_channel": "daphne.response.A!b", "path": "/", "order": 0})
        run_pending(layer)
        assert layer.receive(["daphne.response.A!"], block=False)[1] == {"accept": True}

"""Sessions, auth decorators, enforce_ordering and origin validation (reference §5.6)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import override_settings

from tests.unit.worker_helpers import drain, memory_layer, run_pending
from worker.auth import channel_session_user, http_session_user, transfer_user
from worker.channel import Channel
from worker.routing import route
from worker.security.websockets import BaseOriginValidator, allowed_hosts_only
from worker.sessions import (
    channel_and_http_session,
    channel_session,
    enforce_ordering,
    http_session,
    session_for_reply_channel,
    wait_channel_name,
)

CACHE_SESSIONS = override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "worker-tests"}},
)
REPLY = "daphne.response.Sess!abc"


@pytest.fixture(autouse=True)
def cache_sessions():
    with CACHE_SESSIONS:
        yield


def ws(channel: str, order: int | None = None, reply: str = REPLY, **extra) -> tuple[str, dict]:
    content = {"reply_channel": reply, "path": "/ws/", **extra}
    if order is not None:
        content["order"] = order
    return channel, content


def test_channel_session_key_is_chn_plus_sha1_prefix():
    """The session key is "chn" + sha1(reply_channel)[:29], as Channels >= 1.1.2 derives it."""
    session = session_for_reply_channel(REPLY)
    assert session.session_key == "chn" + hashlib.sha1(REPLY.encode()).hexdigest()[:29]
    assert len(session.session_key) == 32


def test_channel_session_persists_across_messages_of_one_connection():
    """Data stored in message.channel_session on connect is there on the next message, per socket."""
    seen = []

    @channel_session
    def on_connect(message):
        message.channel_session["room"] = message["path"]

    @channel_session
    def on_receive(message):
        seen.append(message.channel_session.get("room"))

    with memory_layer([route("websocket.connect", on_connect), route("websocket.receive", on_receive)]) as layer:
        layer.send(*ws("websocket.connect", 0))
        run_pending(layer)
        layer.send(*ws("websocket.receive", 1, text="x"))
        layer.send(*ws("websocket.receive", 1, reply="daphne.response.Sess!other", text="y"))
        run_pending(layer)
    assert seen == ["/ws/", None]


def test_channel_session_needs_reply_channel_and_refuses_signed_cookies():
    """No reply_channel → ValueError; signed-cookie engine → ValueError (cannot store server-side)."""
    with pytest.raises(ValueError, match="signed cookie sessions"):
        with override_settings(CHANNEL_SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
            session_for_reply_channel(REPLY)

    from worker.message import Message

    with memory_layer([]) as layer, pytest.raises(ValueError, match="No reply_channel sent to consumer"):
        channel_session(lambda m: None)(Message({}, "x", layer))


def _http_session_with(data: dict) -> str:
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.update(data)
    store.save()
    return store.session_key


def test_http_session_from_cookie_or_query_and_none_without():
    """http_session loads the session named by the cookie or ?session_key=, else sets None."""
    key = _http_session_with({"name": "ann"})
    seen = []

    @http_session
    def consumer(message):
        seen.append(message.http_session and message.http_session["name"])

    with memory_layer([route("websocket.connect", consumer)]) as layer:
        layer.send(*ws("websocket.connect", 0, headers=[[b"cookie", f"sessionid={key}; x=1".encode()]]))
        layer.send(*ws("websocket.connect", 0, query_string=f"session_key={key}".encode(), headers=[]))
        layer.send(*ws("websocket.connect", 0, headers=[]))
        run_pending(layer)
    assert seen == ["ann", "ann", None]


def test_channel_and_http_session_rehydrates_http_session_on_later_messages():
    """On connect the HTTP session key goes into the channel session; receives get http_session back."""
    key = _http_session_with({"name": "bob"})
    seen = []

    @channel_and_http_session
    def consumer(message):
        seen.append(message.http_session["name"])

    with memory_layer([route(["websocket.connect", "websocket.receive"], consumer)]) as layer:
        layer.send(*ws("websocket.connect", 0, headers=[[b"cookie", f"sessionid={key}".encode()]]))
        run_pending(layer)
        layer.send(*ws("websocket.receive", 1, text="hi"))
        run_pending(layer)
    assert seen == ["bob", "bob"]


def test_auth_decorators_give_anonymous_user_without_login_and_transfer_user_copies_login():
    """Without a login message.user is AnonymousUser; transfer_user copies the three auth keys only."""
    users = []

    @http_session_user
    def a(message):
        users.append(message.user.is_anonymous)

    @channel_session_user
    def b(message):
        users.append(message.user.is_anonymous)

    with memory_layer([route("websocket.connect", a), route("websocket.receive", b)]) as layer:
        layer.send(*ws("websocket.connect", 0, headers=[]))
        layer.send(*ws("websocket.receive", 1, text="x"))
        run_pending(layer)
    assert users == [True, True]
    target: dict = {}
    transfer_user({"_auth_user_id": "1", "_auth_user_backend": "b", "_auth_user_hash": "h", "other": 1}, target)
    assert target == {"_auth_user_id": "1", "_auth_user_backend": "b", "_auth_user_hash": "h"}
    partial: dict = {}
    transfer_user({"_auth_user_id": "1"}, partial)
    assert partial == {}


def test_enforce_ordering_parks_early_messages_on_the_wait_channel_and_replays_them():
    """order 2 before 1: parked on __wait__.<reply with ! → ?>, replayed after 1, so 1 runs before 2."""
    ran = []

    @enforce_ordering
    def consumer(message):
        ran.append(message["order"])
        Channel(message.reply_channel.name).send({"text": str(message["order"])})

    assert wait_channel_name(REPLY) == "__wait__.daphne.response.Sess?abc"
    with memory_layer([route(["websocket.connect", "websocket.receive"], consumer)]) as layer:
        layer.send(*ws("websocket.connect", 0))
        run_pending(layer)
        layer.send(*ws("websocket.receive", 2, text="b"))
        run_pending(layer, ["websocket.receive"])
        assert ran == [0]
        assert layer.channel_statistics(wait_channel_name(REPLY))["messages_pending"] == 1
        layer.send(*ws("websocket.receive", 1, text="a"))
        run_pending(layer, ["websocket.receive"])
        assert ran == [0, 1, 2]
        assert [m["text"] for m in drain(layer, "daphne.response.Sess!")] == ["0", "1", "2"]


def test_enforce_ordering_refuses_slight_and_messages_without_order():
    """slight=True is a ValueError; a message without "order" is a ValueError."""
    with pytest.raises(ValueError, match="Slight ordering"):
        enforce_ordering(lambda m: None, slight=True)
    from worker.message import Message

    with memory_layer([]) as layer, pytest.raises(ValueError, match="No `order` value"):
        enforce_ordering(lambda m: None)(Message({"reply_channel": REPLY}, "websocket.receive", layer))


@pytest.mark.parametrize(
    "headers, accepted",
    [
        ([[b"origin", b"http://testserver"]], True),
        ([[b"origin", b"https://localhost:8000"]], True),
        ([[b"origin", b"http://evil.example"]], False),
        ([[b"origin", b""]], False),
        ([[b"origin", "http://t\u00e9st".encode()]], False),
        ([], False),
    ],
)
def test_allowed_hosts_only_denies_bad_or_missing_origins(headers, accepted):
    """allowed_hosts_only: origin host must pass ALLOWED_HOSTS; missing/empty/non-ASCII → close (403)."""

    @allowed_hosts_only
    def connect(message):
        message.reply_channel.send({"accept": True})

    with override_settings(ALLOWED_HOSTS=["testserver", "localhost"]):
        with memory_layer([route("websocket.connect", connect)]) as layer:
            layer.send(*ws("websocket.connect", 0, headers=headers))
            run_pending(layer)
            assert drain(layer, "daphne.response.Sess!") == [{"accept": True} if accepted else {"close": True}]


def test_base_origin_validator_must_be_subclassed():
    """BaseOriginValidator.validate_origin is abstract: NotImplementedError when not overridden."""
    from worker.message import Message

    with memory_layer([]) as layer, pytest.raises(NotImplementedError):
        BaseOriginValidator(lambda m: None)(
            Message({"headers": [[b"origin", b"http://x"]]}, "websocket.connect", layer)
        )

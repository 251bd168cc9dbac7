"""Session decorators for consumers (Channels 1.1.8): ``channel_session``, ``http_session``,
``channel_and_http_session`` and ``enforce_ordering``.

A channel session belongs to a connection: its key is ``"chn" + sha1(reply_channel)[:29]``, the
same derivation as Channels ≥ 1.1.2, so our workers and legacy workers read and write the same
sessions during a migration (given a session engine both Django versions decode the same way, see
docs/migrating.md). ``enforce_ordering`` parks early messages on the wait channel
``"__wait__." + reply_channel.replace("!", "?")``, as 1.1.8 did, so both kinds of worker share it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from importlib import import_module
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends import signed_cookies
from django.contrib.sessions.backends.base import CreateError, SessionBase
from django.http import QueryDict
from django.http.cookie import parse_cookie

from .exceptions import ConsumeLater
from .message import Message

__all__ = [
    "channel_and_http_session",
    "channel_session",
    "enforce_ordering",
    "http_session",
    "requeue_messages",
    "session_for_reply_channel",
    "wait_channel_name",
]

F = TypeVar("F", bound=Callable[..., Any])

_NEXT_ORDER = "__channels_next_order"


def session_for_reply_channel(reply_channel: str) -> SessionBase:
    """The channel session of a connection (``CHANNEL_SESSION_ENGINE``, else ``SESSION_ENGINE``).

    Signed-cookie sessions cannot be stored server-side: ``ValueError``.
    """
    session_key = "chn" + hashlib.sha1(reply_channel.encode("utf8")).hexdigest()[:29]
    engine = import_module(getattr(settings, "CHANNEL_SESSION_ENGINE", settings.SESSION_ENGINE))
    if engine is signed_cookies:
        raise ValueError("You cannot use channels session functionality with signed cookie sessions!")
    session: SessionBase = engine.SessionStore(session_key=session_key)
    # Loading an unknown key makes some engines forget it; load now and put the key back, so a
    # new session is created under the derived key rather than a random one.
    session._session.keys()
    session._session_key = session_key
    return session


def _find_message(args: tuple[Any, ...]) -> Message:
    # Works on functions (message first) and methods (self, message).
    for arg in args[:2]:
        if isinstance(arg, Message):
            return arg
    raise ValueError("channel_session called without Message instance")


def channel_session(func: F) -> F:
    """Give the consumer ``message.channel_session``, saved after it if modified and not empty.

    A session that does not exist yet is created first; if another worker creates it at the same
    moment, the message is retried later (``ConsumeLater``). Nested use reuses the same session.
    """

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = _find_message(args)
        if hasattr(message, "channel_session"):
            try:
                return func(*args, **kwargs)
            finally:
                if message.channel_session.modified:
                    message.channel_session.save()
        if not message.reply_channel:
            raise ValueError(
                "No reply_channel sent to consumer; @channel_session can only be used on messages containing it."
            )
        session = session_for_reply_channel(message.reply_channel.name)
        if not session.exists(session.session_key):
            try:
                session.save(must_create=True)
            except CreateError:
                raise ConsumeLater() from None
        message.channel_session = session
        try:
            return func(*args, **kwargs)
        finally:
            if session.modified and not session.is_empty():
                session.save()

    return inner  # type: ignore[return-value]


def wait_channel_name(reply_channel: str) -> str:
    """The channel where ``enforce_ordering`` parks early messages of a connection."""
    return "__wait__.{}".format(reply_channel.replace("!", "?"))


def requeue_messages(message: Message) -> None:
    """Send every message parked on the connection's wait channel back to its original channel."""
    assert message.reply_channel is not None
    layer = message.channel_layer
    wait_channel = wait_channel_name(message.reply_channel.name)
    while True:
        channel, content = layer.receive([wait_channel], block=False)
        if channel is None:
            return
        original_channel = content.pop("original_channel")
        try:
            layer.send(original_channel, content)
        except layer.ChannelFull:
            raise layer.ChannelFull(
                f"Cannot requeue pending __wait__ channel message back on to already full channel {original_channel}"
            ) from None


def enforce_ordering(func: Callable[..., Any] | None = None, slight: bool = False) -> Any:
    """Run a connection's messages strictly in ``order``; early ones wait on the wait channel.

    Implies ``channel_session`` (the next expected order is kept there). ``slight=True`` was removed
    in 1.0 and raises ``ValueError``.
    """
    if slight:
        raise ValueError("Slight ordering is now always on due to Channels changes. Please remove the decorator.")

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @channel_session
        @functools.wraps(func)
        def inner(message: Message, *args: Any, **kwargs: Any) -> None:
            if "order" not in message.content:
                raise ValueError(
                    "No `order` value in message; @enforce_ordering can only be used on messages containing it."
                )
            order = int(message.content["order"])
            session = message.channel_session
            if order == session.get(_NEXT_ORDER, 0):
                func(message, *args, **kwargs)
                session[_NEXT_ORDER] = order + 1
                session.save()
                session.modified = False
                requeue_messages(message)
                return
            assert message.reply_channel is not None
            layer = message.channel_layer
            message.content["original_channel"] = message.channel.name
            try:
                layer.send(wait_channel_name(message.reply_channel.name), message.content)
            except layer.ChannelFull:
                raise layer.ChannelFull(
                    f"Cannot add unordered message to already full __wait__ channel for socket {message.reply_channel.name}"
                ) from None
            # The expected order may have moved on while this message was parked: check again.
            if order == session.load().get(_NEXT_ORDER, 0):
                requeue_messages(message)

        return inner

    if func is not None:
        return decorator(func)
    return decorator


def _request_parts(message: Message) -> tuple[QueryDict, dict[str, str]]:
    """The query parameters and cookies of an ``http.request`` or ``websocket.connect`` message."""
    query = message.content.get("query_string", b"")
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    headers = message.content.get("headers", [])
    pairs = headers.items() if isinstance(headers, dict) else headers
    cookies: dict[str, str] = {}
    for name, value in pairs:
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        if name.lower() != "cookie":
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        cookies.update(parse_cookie(text))
    return QueryDict(query), cookies


def http_session(func: F) -> F:
    """Give the consumer ``message.http_session``: the Django session named by the ``session_key``
    query parameter or the session cookie, or None. It is saved if modified; it is never created."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if hasattr(message, "http_session"):
            try:
                return func(message, *args, **kwargs)
            finally:
                if message.http_session is not None and message.http_session.modified:
                    message.http_session.save()
        try:
            query, cookies = _request_parts(message)
        except Exception as exc:
            raise ValueError(f"Cannot parse HTTP message - are you sure this is a HTTP consumer? {exc}") from exc
        session_key = query.get("session_key") or cookies.get(settings.SESSION_COOKIE_NAME)
        session = None
        if session_key:
            engine = import_module(settings.SESSION_ENGINE)
            session = engine.SessionStore(session_key=session_key)
        message.http_session = session
        result = func(message, *args, **kwargs)
        if session is not None and session.modified:
            session.save()
        return result

    return inner  # type: ignore[return-value]


def channel_and_http_session(func: F) -> F:
    """Both sessions: on connect the HTTP session key is kept in the channel session, and later
    messages (which carry no cookies) get ``message.http_session`` back from it."""

    @http_session
    @channel_session
    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        cookie_name = settings.SESSION_COOKIE_NAME
        if message.http_session is not None and cookie_name not in message.channel_session:
            message.channel_session[cookie_name] = message.http_session.session_key
        elif message.http_session is None and cookie_name in message.channel_session:
            engine = import_module(settings.SESSION_ENGINE)
            message.http_session = engine.SessionStore(session_key=message.channel_session[cookie_name])
        return func(message, *args, **kwargs)

    return inner  # type: ignore[return-value]

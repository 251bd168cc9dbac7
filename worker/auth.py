"""Auth decorators for consumers (Channels 1.1.8): ``message.user`` from the HTTP or channel session.

``channel_session_user_from_http`` (use it on ``websocket.connect``) copies the login from the
HTTP session into the channel session with :func:`transfer_user`; later messages, which carry no
cookies, use ``channel_session_user``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import auth

from .message import Message
from .sessions import channel_and_http_session, channel_session, http_session

__all__ = [
    "channel_and_http_session_user_from_http",
    "channel_session_user",
    "channel_session_user_from_http",
    "http_session_user",
    "transfer_user",
]

F = TypeVar("F", bound=Callable[..., Any])


def transfer_user(from_session: Any, to_session: Any) -> None:
    """Copy the login (backend, user id, session hash) from one session to another, if it is all there."""
    keys = (auth.BACKEND_SESSION_KEY, auth.SESSION_KEY, auth.HASH_SESSION_KEY)
    if all(key in from_session for key in keys):
        for key in keys:
            to_session[key] = from_session[key]


def _user_from(session: Any) -> Any:
    if session is None:
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser()
    # auth.get_user only needs request.session.
    fake_request = type("FakeRequest", (object,), {"session": session})
    return auth.get_user(fake_request)


def channel_session_user(func: F) -> F:
    """``message.user`` from the channel session (``AnonymousUser`` if nobody logged in). Implies ``channel_session``."""

    @channel_session
    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(message, "channel_session"):
            raise ValueError("Did not see a channel session to get auth from")
        message.user = _user_from(message.channel_session)
        return func(message, *args, **kwargs)

    return inner  # type: ignore[return-value]


def http_session_user(func: F) -> F:
    """``message.user`` from the HTTP session (``AnonymousUser`` without one). Implies ``http_session``."""

    @http_session
    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if not hasattr(message, "http_session"):
            raise ValueError("Did not see a http session to get auth from")
        message.user = _user_from(message.http_session)
        return func(message, *args, **kwargs)

    return inner  # type: ignore[return-value]


def channel_session_user_from_http(func: F) -> F:
    """``http_session_user`` + ``channel_session``, copying the login into the channel session."""

    @http_session_user
    @channel_session
    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if message.http_session is not None:
            transfer_user(message.http_session, message.channel_session)
        return func(message, *args, **kwargs)

    return inner  # type: ignore[return-value]


def channel_and_http_session_user_from_http(func: F) -> F:
    """Like ``channel_session_user_from_http``, and keeps the HTTP session for later messages too."""

    @http_session_user
    @channel_and_http_session
    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        if message.http_session is not None:
            transfer_user(message.http_session, message.channel_session)
        return func(message, *args, **kwargs)

    return inner  # type: ignore[return-value]

"""Auth decorators for consumers (Channels 1.1.8): ``message.user`` from the HTTP or channel session.

``channel_session_user_from_http`` (use it on ``websocket.connect``) copies the login from the
HTTP session into the channel session with :func:`transfer_user`; later messages, which carry no
cookies, use ``channel_session_user``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import auth
from django.utils.crypto import constant_time_compare

from .message import Message
from .sessions import channel_and_http_session, channel_session, http_session

__all__ = [
    "channel_and_http_session_user_from_http",
    "channel_session_user",
    "channel_session_user_from_http",
    "get_user",
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


def get_user(session: Any) -> Any:
    """The user logged in to ``session`` (a session object), else ``AnonymousUser``.

    Django's ``auth.get_user`` rules, checked against the session itself: the user must exist, its
    backend be configured, and the stored auth hash match. A hash Django accepts as a fallback
    (an old ``SECRET_KEY``, or the other of SHA-1 / SHA-256 during a migration, see
    ``worker.legacy_sessions``) is replaced by the current one, without cycling the key: a channel
    session's key belongs to its connection. Any other hash flushes the session.
    """
    from django.contrib.auth.models import AnonymousUser

    from .legacy_sessions import accepted_fallback_hashes

    if session is None:
        return AnonymousUser()
    try:
        user_id = auth.get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
        backend_path = session[auth.BACKEND_SESSION_KEY]
    except KeyError:
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    user = auth.load_backend(backend_path).get_user(user_id)
    if user is None:
        return AnonymousUser()
    if hasattr(user, "get_session_auth_hash"):
        stored = session.get(auth.HASH_SESSION_KEY)
        current = user.get_session_auth_hash()
        if stored and constant_time_compare(stored, current):
            return user
        if stored and any(constant_time_compare(stored, h) for h in accepted_fallback_hashes(user)):
            session[auth.HASH_SESSION_KEY] = current
            return user
        session.flush()
        return AnonymousUser()
    return user


def _before(func: F, step: Callable[[Message], None], *decorators: Callable[[Any], Any]) -> F:
    """``func`` with ``step(message)`` run first, wrapped in ``decorators`` (the first is outermost)."""

    @functools.wraps(func)
    def inner(message: Message, *args: Any, **kwargs: Any) -> Any:
        step(message)
        return func(message, *args, **kwargs)

    wrapped: Any = inner
    for decorate in reversed(decorators):
        wrapped = decorate(wrapped)
    return cast(F, wrapped)


def _user_from_session(kind: str) -> Callable[[Message], None]:
    """The step that sets ``message.user`` from ``message.<kind>_session``."""
    attribute = f"{kind}_session"

    def step(message: Message) -> None:
        if not hasattr(message, attribute):
            raise ValueError(f"Did not see a {kind} session to get auth from")
        message.user = get_user(getattr(message, attribute))

    return step


def _copy_login_from_http(message: Message) -> None:
    if message.http_session is not None:
        transfer_user(message.http_session, message.channel_session)


def channel_session_user(func: F) -> F:
    """``message.user`` from the channel session (``AnonymousUser`` if nobody logged in). Implies ``channel_session``."""
    return _before(func, _user_from_session("channel"), channel_session)


def http_session_user(func: F) -> F:
    """``message.user`` from the HTTP session (``AnonymousUser`` without one). Implies ``http_session``."""
    return _before(func, _user_from_session("http"), http_session)


def channel_session_user_from_http(func: F) -> F:
    """``http_session_user`` + ``channel_session``, copying the login into the channel session."""
    return _before(func, _copy_login_from_http, http_session_user, channel_session)


def channel_and_http_session_user_from_http(func: F) -> F:
    """Like ``channel_session_user_from_http``, and keeps the HTTP session for later messages too."""
    return _before(func, _copy_login_from_http, http_session_user, channel_and_http_session)

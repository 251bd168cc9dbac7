"""``WSClient``: a test client for WebSocket consumers, with cookies, headers, a session and login."""

from __future__ import annotations

import copy
import json
from typing import Any

from django.apps import apps
from django.conf import settings
from django.http.cookie import SimpleCookie

from ..sessions import session_for_reply_channel
from .base import Client

__all__ = ["WSClient"]


def _encoded_cookies(cookies: dict[str, str]) -> bytes:
    jar = SimpleCookie()
    for key, value in cookies.items():
        jar[key] = value
    header: str = jar.output(header="", sep=";")
    return header.encode("ascii")


class WSClient(Client):
    """Sends ``websocket.*`` messages to consumers in-process and checks the replies (Channels 1.1.8's API).

    ``ordered=True`` adds an increasing ``order`` to every message. The messages are the ones
    1.1.8's test client built, so tests written against it keep passing: ``headers`` is a dict
    (header name → value as given to :meth:`set_header`, plus ``cookie`` as bytes, with the session
    cookie until the first message is sent) and a ``?query`` in ``path`` becomes a str
    ``query_string``. The interface server sends ``[[name, value], ...]`` bytes pairs and a bytes
    ``query_string`` instead; the decorators, ``AsgiRequest`` and the origin validator read both.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._ordered = kwargs.pop("ordered", False)
        super().__init__(**kwargs)
        self._session: Any = None
        self._headers: dict[str, Any] = {}
        self._cookies: dict[str, str] = {}
        self._session_cookie = True
        self.order = 0

    def set_cookie(self, key: str, value: str) -> None:
        """Send a cookie with the next messages."""
        self._cookies[key] = value

    def set_header(self, key: str, value: Any) -> None:
        """Send a header with the next messages, name and value as given (``ValueError`` for ``cookie``:
        use :meth:`set_cookie`)."""
        if key == "cookie":
            raise ValueError("Use set_cookie method for cookie header")
        self._headers[key] = value

    def get_cookies(self) -> dict[str, str]:
        """The cookies to send, with the session cookie while it applies."""
        cookies = copy.copy(self._cookies)
        if self._session_cookie and apps.is_installed("django.contrib.sessions"):
            cookies[settings.SESSION_COOKIE_NAME] = self.session.session_key
        return cookies

    @property
    def headers(self) -> dict[str, Any]:
        """The headers of the next message: a copy of those set, and ``cookie`` (bytes) from :meth:`get_cookies`."""
        headers = copy.deepcopy(self._headers)
        headers.setdefault("cookie", _encoded_cookies(self.get_cookies()))
        return headers

    @property
    def session(self) -> Any:
        """This client's session (the channel session of its reply channel); needs contrib.sessions."""
        if not apps.is_installed("django.contrib.sessions"):
            raise OSError("Add django.contrib.sessions to the INSTALLED_APPS to use session")
        if not self._session:
            self._session = session_for_reply_channel(self.reply_channel)
        return self._session

    def receive(self, json: bool = True) -> Any:  # noqa: A002 - 1.1.8 keyword
        """The next reply: its JSON-decoded ``text`` (``json=True``), its ``text``, else the whole content."""
        content = super().receive()
        if content and json and isinstance(content.get("text"), str):
            return _json_loads(content["text"])
        return content.get("text", content) if content else None

    def send(self, to: str, content: dict[str, Any] | None = None, text: Any = None, path: str = "/") -> None:
        """Send to ``to``; ``path`` may carry ``?query`` (sent as ``query_string`` on connect only)."""
        if to != "websocket.connect" and "?" in path:
            path = path.split("?")[0]
        self.channel_layer.send(to, self._get_content(content, text, path))
        self._session_cookie = False

    def _get_content(self, content: dict[str, Any] | None = None, text: Any = None, path: str = "/") -> dict[str, Any]:
        content = copy.deepcopy(content or {})
        content.setdefault("reply_channel", self.reply_channel)
        if "?" in path:
            path, query_string = path.split("?", 1)
            content.setdefault("path", path)
            content.setdefault("query_string", query_string)
        else:
            content.setdefault("path", path)
        content.setdefault("headers", self.headers)
        if self._ordered:
            if "order" in content:
                raise ValueError('Do not use "order" manually with "ordered=True"')
            content["order"] = self.order
            self.order += 1
        text = text or content.get("text")
        if text is not None:
            content["text"] = text if isinstance(text, str) else _json_dumps(text)
        return content

    def send_and_consume(  # type: ignore[override]
        self,
        channel: str,
        content: dict[str, Any] | None = None,
        text: Any = None,
        path: str = "/",
        fail_on_none: bool = True,
        check_accept: bool = True,
    ) -> Any:
        """:meth:`send` then :meth:`consume`."""
        self.send(channel, content, text, path)
        return self.consume(channel, fail_on_none=fail_on_none, check_accept=check_accept)

    def consume(self, channel: str, fail_on_none: bool = True, check_accept: bool = True) -> Any:
        """Run the consumer; after ``websocket.connect`` assert the reply was ``{"accept": True}``."""
        result = super().consume(channel, fail_on_none=fail_on_none)
        if channel == "websocket.connect" and check_accept:
            received = self.receive(json=False)
            if received != {"accept": True}:
                raise AssertionError(f"Connection rejected: {received} != '{{accept: True}}'")
        return result

    def login(self, **credentials: Any) -> bool:
        """Log a user in through ``authenticate`` into this client's session; False if that fails."""
        from django.contrib.auth import authenticate

        user = authenticate(**credentials)
        if user and user.is_active and apps.is_installed("django.contrib.sessions"):
            self._login(user)
            return True
        return False

    def force_login(self, user: Any, backend: str | None = None) -> None:
        """Log ``user`` in without credentials (first of ``AUTHENTICATION_BACKENDS`` unless given)."""
        if backend is None:
            backend = settings.AUTHENTICATION_BACKENDS[0]
        user.backend = backend
        self._login(user)

    def _login(self, user: Any) -> None:
        from django.contrib.auth import login

        request = type("FakeRequest", (), {"session": self.session, "META": {}})()
        login(request, user)
        self.session.save()


def _json_loads(text: str) -> Any:
    return json.loads(text)


def _json_dumps(value: Any) -> str:
    return json.dumps(value)

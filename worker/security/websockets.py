"""Origin validation for ``websocket.connect`` consumers (Channels 1.1.8 ``channels.security.websockets``)."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.http.request import validate_host

from ..exceptions import DenyConnection
from ..message import Message

__all__ = ["AllowedHostsOnlyOriginValidator", "BaseOriginValidator", "allowed_hosts_only"]


class BaseOriginValidator:
    """A class decorator for ``websocket.connect`` consumers that checks the ``Origin`` header.

    A missing, empty or non-ASCII origin is denied (``DenyConnection``, so the handshake gets 403);
    otherwise :meth:`validate_origin` (for subclasses) decides.
    """

    def __init__(self, func: Any) -> None:
        functools.update_wrapper(self, func)
        self.func = func

    def __call__(self, message: Message, *args: Any, **kwargs: Any) -> Any:
        origin = self.get_origin(message)
        if not self.validate_origin(message, origin):
            raise DenyConnection
        return self.func(message, *args, **kwargs)

    def get_header(self, message: Message, name: bytes) -> list[Any]:
        """The value(s) after the name of the first header called ``name``; ``KeyError`` if absent."""
        headers = message.content.get("headers", [])
        pairs = [list(item) for item in headers.items()] if isinstance(headers, dict) else headers
        for header in pairs:
            if len(header) >= 1 and header[0] == name:
                return list(header[1:])
        raise KeyError(f'No header named "{name!r}"')

    def get_origin(self, message: Message) -> str:
        """The origin as text; ``DenyConnection`` when it is missing, empty or not ASCII."""
        try:
            header = self.get_header(message, b"origin")[0]
        except (IndexError, KeyError):
            raise DenyConnection from None
        try:
            origin = header.decode("ascii") if isinstance(header, bytes) else str(header)
        except UnicodeDecodeError:
            raise DenyConnection from None
        if not origin:
            raise DenyConnection
        return origin

    def validate_origin(self, message: Message, origin: str) -> bool:
        """True to accept the connection; subclasses must override it."""
        raise NotImplementedError("You must overwrite this method.")


class AllowedHostsOnlyOriginValidator(BaseOriginValidator):
    """Accepts origins whose host is in ``ALLOWED_HOSTS`` (with DEBUG and no ALLOWED_HOSTS:
    localhost, 127.0.0.1 and [::1])."""

    def validate_origin(self, message: Message, origin: str) -> bool:
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        hostname = urlparse(origin).hostname
        return bool(hostname and validate_host(hostname, allowed_hosts))


allowed_hosts_only = AllowedHostsOnlyOriginValidator

"""``BaseConsumer``: a class that is its own routing target, one instance per message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..auth import channel_session_user
from ..message import Message
from ..routing import RouteClass, route_class
from ..sessions import channel_session

__all__ = ["BaseConsumer"]


class BaseConsumer:
    """Instantiated with each message (``Consumer(message, **kwargs)``), which it dispatches at once.

    ``method_mapping = {channel: "method_name"}`` says which method handles which channel (and so
    which channels the class listens on); the ``channel_session`` / ``channel_session_user`` flags
    wrap that method in the matching decorator.
    """

    method_mapping: ClassVar[dict[str, str]] = {}
    channel_session = False
    channel_session_user = False

    def __init__(self, message: Message, **kwargs: Any) -> None:
        self.message = message
        self.kwargs = kwargs
        self.dispatch(message, **kwargs)

    @classmethod
    def channel_names(cls) -> set[str]:
        """The channels this consumer handles: the keys of ``method_mapping``."""
        return set(cls.method_mapping.keys())

    @classmethod
    def as_route(cls, attrs: dict[str, Any] | None = None, **filters: Any) -> RouteClass:
        """A route to this class (or to a subclass with ``attrs`` set), with message filters."""
        target: type[BaseConsumer] = cls
        if attrs:
            if not isinstance(attrs, dict):
                raise TypeError("attrs must be a dict")
            target = type(cls.__name__, (cls,), attrs)
        return route_class(target, **filters)

    def get_handler(self, message: Message, **kwargs: Any) -> Callable[..., Any]:
        """The bound method for the message's channel, wrapped in the session decorators asked for."""
        handler: Callable[..., Any] = getattr(self, self.method_mapping[message.channel.name])
        if self.channel_session_user:
            return channel_session_user(handler)
        if self.channel_session:
            return channel_session(handler)
        return handler

    def dispatch(self, message: Message, **kwargs: Any) -> Any:
        """Call the handler with the message and the routing kwargs."""
        return self.get_handler(message, **kwargs)(message, **kwargs)

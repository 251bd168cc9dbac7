"""Channel routing (Channels 1.1.8 API): ``route``, ``route_class``, ``include`` and ``Router``.

Theory of operation. A routing is a list of routing objects, each with ``match(message)`` returning
``(consumer, kwargs)`` or None, and ``channel_names()`` returning the set of channels it serves.
``Router`` wraps the project's routing in a root ``Include`` and tries entries in order; the first
match wins. Filters are regexes ``re.match``ed (anchored at the start only) against message keys,
with bytes values decoded as ASCII; only named groups are allowed, and they become the consumer's
keyword arguments. ``include`` cuts the part its prefix matched from a *copy* of the message before
trying its sub-routes; the consumer is still called with the original message by the worker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol

from django.core.exceptions import ImproperlyConfigured

from channellayer.importing import import_object

from .utils import name_that_thing

__all__ = [
    "Include",
    "Route",
    "RouteClass",
    "Router",
    "connect_consumer",
    "include",
    "null_consumer",
    "route",
    "route_class",
]

Match = tuple[Callable[..., Any], dict[str, Any]]


class Routing(Protocol):
    """Anything that can sit in a routing list."""

    def match(self, message: Any) -> Match | None: ...

    def channel_names(self) -> set[str]: ...


def _text(value: Any) -> Any:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _import(path: str, what: str) -> Any:
    """The object at dotted ``path``; ``ImproperlyConfigured`` naming ``what`` and the path when it cannot be imported."""
    try:
        return import_object(path, what)
    except (ImportError, ValueError) as exc:
        # import_object names the path too; say it once, with the underlying reason.
        raise ImproperlyConfigured(f"Cannot import {what} {path!r}: {exc.__cause__ or exc}") from exc


def _compile_filters(owner: str, filters: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    compiled = {}
    for key, pattern in filters.items():
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(_text(pattern))
        if regex.groups != len(regex.groupindex):
            raise ValueError(f"Filter for {key} on {owner} contains positional groups; only named groups are allowed.")
        compiled[key] = regex
    return compiled


def _match_filters(message: Any, filters: dict[str, re.Pattern[str]]) -> tuple[dict[str, Any], dict[str, int]] | None:
    """The named groups the filters captured and, per key, where its match ended; None if one fails.

    A message lacking a filter's key, or whose value is not text (after ASCII-decoding bytes),
    does not match.
    """
    kwargs: dict[str, Any] = {}
    ends: dict[str, int] = {}
    for key, regex in filters.items():
        if key not in message:
            return None
        value = _text(message[key])
        if not isinstance(value, str):
            return None
        found = regex.match(value)
        if found is None:
            return None
        kwargs.update(found.groupdict())
        ends[key] = found.end()
    return kwargs, ends


class Router:
    """The consumers of a project and the channels they listen on.

    ``channels`` is the (cached) set of channel names; ``match(message)`` gives the first
    ``(consumer, kwargs)`` or None; ``add_route`` appends; ``check_default`` appends the default
    routes, so the project's own routes come first.
    """

    #: What ``check_default()`` builds for ``http.request`` when its caller names no consumer: a
    #: zero-argument factory. Routing does not know the view handler; the ``channels`` app
    #: registers it (``ViewConsumer``) when Django is set up (``worker.apps``).
    default_http_consumer: ClassVar[Callable[[], Callable[..., Any]] | None] = None

    def __init__(self, routing: Any) -> None:
        self.root = Include(routing)
        self.channels: set[str] = self.root.channel_names()

    def add_route(self, route: Routing) -> None:
        """Append a routing object after every existing one."""
        self.root.routing.append(route)
        self.channels = self.root.channel_names()

    def match(self, message: Any) -> Match | None:
        return self.root.match(message)

    def check_default(self, http_consumer: Callable[..., Any] | None = None) -> None:
        """Append the default routes (1.1.8): ``http.request`` → ``http_consumer`` (by default the view
        handler, see :attr:`default_http_consumer`), ``websocket.connect`` → accept,
        ``websocket.receive`` / ``websocket.disconnect`` → no-op.

        Appended last, they only catch what the project's routes did not. ``http.disconnect`` has no
        default route, so workers do not consume it. ``ImproperlyConfigured`` when no
        ``http_consumer`` is given and none is registered.
        """
        if http_consumer is None:
            factory = type(self).default_http_consumer
            if factory is None:
                raise ImproperlyConfigured(
                    "No default http.request consumer: add 'channels' to INSTALLED_APPS (it registers "
                    "the view handler) or pass check_default(http_consumer=...)"
                )
            http_consumer = factory()
        self.add_route(Route("http.request", http_consumer))
        self.add_route(Route("websocket.connect", connect_consumer))
        self.add_route(Route("websocket.receive", null_consumer))
        self.add_route(Route("websocket.disconnect", null_consumer))

    @classmethod
    def resolve_routing(cls, routing: Any) -> list[Any]:
        """A routing given as a dotted path is imported; a dict ``{channel: consumer}`` becomes routes."""
        if isinstance(routing, str):
            routing = _import(routing, "channel routing")
        if isinstance(routing, dict):
            routing = [Route(channel, consumer) for channel, consumer in routing.items()]
        if routing is None:
            return []
        return list(routing)

    @classmethod
    def normalise_re_arg(cls, value: Any) -> Any:
        """Bytes become text (ASCII); anything else is returned as is."""
        return _text(value)


class Route:
    """``route(channel_or_channels, consumer, **filters)``: one consumer for some channels.

    ``consumer`` may be a callable or a dotted path to one. Each filter is a regex matched from the
    start of ``message[key]``; a message lacking the key does not match.
    """

    def __init__(self, channels: str | bytes | Iterable[str | bytes], consumer: Any, **filters: Any) -> None:
        if isinstance(channels, (str, bytes)):
            channels = [channels]
        self.channels = [_text(channel) for channel in channels]
        self.consumer = self._resolve_consumer(consumer)
        self.filters = _compile_filters(str(self.channels), filters)

    @staticmethod
    def _resolve_consumer(consumer: Any) -> Any:
        if isinstance(consumer, str):
            return _import(consumer, "consumer")
        return consumer

    def match(self, message: Any) -> Match | None:
        if message.channel.name not in self.channels:
            return None
        matched = _match_filters(message, self.filters)
        if matched is None:
            return None
        return self.consumer, matched[0]

    def channel_names(self) -> set[str]:
        return set(self.channels)

    def __str__(self) -> str:
        filters = ", ".join(f"{key}={regex.pattern}" for key, regex in self.filters.items())
        return f"{'/'.join(self.channels)} {f'({filters})' if filters else ''} -> {name_that_thing(self.consumer)}"


class RouteClass(Route):
    """``route_class(ConsumerClass, **filters)``: the channels come from ``ConsumerClass.channel_names()``."""

    def __init__(self, consumer: Any, **filters: Any) -> None:
        consumer = self._resolve_consumer(consumer)
        channel_names = getattr(consumer, "channel_names", None)
        if not callable(channel_names):
            raise ValueError("The consumer passed to RouteClass has no valid channel_names method")
        super().__init__(list(channel_names()), consumer, **filters)


class Include:
    """``include(routing_or_path, **prefix_filters)``: a sub-routing behind prefix regexes.

    The prefixes are matched first; the part each one matched is cut from a copy of the message
    before the sub-routes are tried. The sub-route's kwargs win over the include's.
    """

    def __init__(self, routing: Any, **prefixes: Any) -> None:
        self.routing = Router.resolve_routing(routing)
        self.prefixes = _compile_filters("include", prefixes)

    def match(self, message: Any) -> Match | None:
        matched = _match_filters(message, self.prefixes)
        if matched is None:
            return None
        kwargs, ends = matched
        if ends:
            message = message.copy()
            for key, end in ends.items():
                message[key] = _text(message[key])[end:]
        for entry in self.routing:
            matched = entry.match(message)
            if matched is not None:
                return matched[0], {**kwargs, **matched[1]}
        return None

    def channel_names(self) -> set[str]:
        names: set[str] = set()
        for entry in self.routing:
            names.update(entry.channel_names())
        return names


def null_consumer(*args: Any, **kwargs: Any) -> None:
    """The default ``websocket.receive`` / ``websocket.disconnect`` consumer: does nothing."""


def connect_consumer(message: Any, *args: Any, **kwargs: Any) -> None:
    """The default ``websocket.connect`` consumer: accepts every connection."""
    message.reply_channel.send({"accept": True})


# Lowercase aliases, as in urls.py.
route = Route
route_class = RouteClass
include = Include

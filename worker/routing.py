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

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

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
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ImproperlyConfigured(f"Cannot import {what} {path!r}: it is not a dotted path")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"Cannot import {what} {path!r}: {exc}") from exc


def _compile_filters(owner: str, filters: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    compiled = {}
    for key, pattern in filters.items():
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(_text(pattern))
        if regex.groups != len(regex.groupindex):
            raise ValueError(f"Filter for {key} on {owner} contains positional groups; only named groups are allowed.")
        compiled[key] = regex
    return compiled


class Router:
    """The consumers of a project and the channels they listen on.

    ``channels`` is the (cached) set of channel names; ``match(message)`` gives the first
    ``(consumer, kwargs)`` or None; ``add_route`` appends; ``check_default`` appends the default
    routes, so the project's own routes come first.
    """

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
        """Append the default routes (1.1.8): ``http.request`` → the view handler (or ``http_consumer``),
        ``websocket.connect`` → accept, ``websocket.receive`` / ``websocket.disconnect`` → no-op.

        Appended last, they only catch what the project's routes did not. ``http.disconnect`` has no
        default route, so workers do not consume it.
        """
        if http_consumer is None:
            # The view handler needs the whole Django request machinery; import it only when used.
            from .handler import ViewConsumer

            http_consumer = ViewConsumer()
        self.add_route(Route("http.request", http_consumer))
        self.add_route(Route("websocket.connect", connect_consumer))
        self.add_route(Route("websocket.receive", null_consumer))
        self.add_route(Route("websocket.disconnect", null_consumer))

    @classmethod
    def resolve_routing(cls, routing: Any) -> list[Any]:
        """A routing given as a dotted path is imported; a dict ``{channel: consumer}`` becomes routes."""
        if isinstance(routing, str):
            module_name, _, attr = routing.rpartition(".")
            try:
                routing = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ImproperlyConfigured(f"Cannot import channel routing {routing!r}: {exc}") from exc
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
        kwargs: dict[str, Any] = {}
        for key, regex in self.filters.items():
            if key not in message:
                return None
            value = _text(message[key])
            if not isinstance(value, str):
                return None
            found = regex.match(value)
            if found is None:
                return None
            kwargs.update(found.groupdict())
        return self.consumer, kwargs

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
        kwargs: dict[str, Any] = {}
        if self.prefixes:
            message = message.copy()
            for key, regex in self.prefixes.items():
                if key not in message:
                    return None
                value = _text(message[key])
                if not isinstance(value, str):
                    return None
                found = regex.match(value)
                if found is None:
                    return None
                kwargs.update(found.groupdict())
                message[key] = value[found.end() :]
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

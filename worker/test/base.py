"""Test helpers that run consumers in the test process: ``ChannelTestCase``, ``Client``, ``apply_routes``.

``ChannelTestCase`` swaps each alias in ``test_channel_aliases`` for a fresh in-memory layer (same
routing) for the duration of each test, so consumers can be driven with :class:`Client` and what
they sent read back with :meth:`ChannelTestCaseMixin.get_next_message` — Channels 1.1.8's API.
"""

from __future__ import annotations

import copy
import inspect
import random
import string
from functools import wraps
from typing import Any

from django.db import close_old_connections
from django.test.testcases import TestCase, TransactionTestCase

from channellayer import MemoryChannelLayer

from ..asgi import DEFAULT_CHANNEL_LAYER, ChannelLayerWrapper, channel_layers
from ..channel import Group
from ..exceptions import ChannelSocketException
from ..message import Message
from ..routing import Include, Router
from ..signals import consumer_finished, consumer_started

__all__ = ["ChannelTestCase", "ChannelTestCaseMixin", "Client", "TransactionChannelTestCase", "apply_routes"]


#: Django 5.1 made ``_pre_setup`` a classmethod (``TransactionTestCase`` runs it from ``setUpClass``
#: for the first test); 4.2 calls it on the instance. Overrides must match the running Django.
PRE_SETUP_IS_CLASSMETHOD = isinstance(inspect.getattr_static(TransactionTestCase, "_pre_setup"), classmethod)


#: Capacity of each channel of a test layer: 1.1.8's test layer (asgiref's in-memory one) held 10
#: messages, and tests written for it rely on the 11th send raising ``ChannelFull``.
TEST_LAYER_CAPACITY = 10


def _copy_routing(routing: Any) -> Any:
    return list(routing) if isinstance(routing, (list, tuple)) else routing


class ChannelTestCaseMixin:
    """Per test, each alias of :attr:`test_channel_aliases` is an in-memory layer with the same routing."""

    #: Aliases to swap (override to test several layers).
    test_channel_aliases = [DEFAULT_CHANNEL_LAYER]
    _old_layers: dict[str, Any] = {}

    @classmethod
    def _install_test_layers(cls) -> None:
        old: dict[str, Any] = {}
        for alias in cls.test_channel_aliases:
            routing = _copy_routing(channel_layers[alias].routing)
            layer = MemoryChannelLayer(capacity=TEST_LAYER_CAPACITY)
            old[alias] = channel_layers.set(alias, ChannelLayerWrapper(layer, alias, routing))
        cls._old_layers = old

    if PRE_SETUP_IS_CLASSMETHOD:

        @classmethod
        def _pre_setup(cls) -> None:
            super()._pre_setup()  # type: ignore[misc]
            cls._install_test_layers()

    else:

        def _pre_setup(self) -> None:  # type: ignore[misc]
            super()._pre_setup()  # type: ignore[misc]
            self._install_test_layers()

    def _post_teardown(self) -> None:
        owner = type(self)
        for alias in self.test_channel_aliases:
            channel_layers.set(alias, owner._old_layers[alias])
        owner._old_layers = {}
        super()._post_teardown()  # type: ignore[misc]

    def get_next_message(
        self, channel: str, alias: str = DEFAULT_CHANNEL_LAYER, require: bool = False
    ) -> Message | None:
        """The next message sent to ``channel`` during the test, or None (a test failure if ``require``)."""
        received, content = channel_layers[alias].receive([channel])
        if received is None:
            if require:
                self.fail(f"Expected a message on channel {channel}, got none")  # type: ignore[attr-defined]
            return None
        return Message(content, received, channel_layers[alias])


class ChannelTestCase(ChannelTestCaseMixin, TestCase):
    """``django.test.TestCase`` (per-test transaction) with in-memory channel layers."""


class TransactionChannelTestCase(ChannelTestCaseMixin, TransactionTestCase):
    """``django.test.TransactionTestCase`` with in-memory channel layers."""


class Client:
    """Sends messages as one client (its own ``reply_channel``) and runs the routed consumers in-process."""

    def __init__(self, alias: str = DEFAULT_CHANNEL_LAYER) -> None:
        self.reply_channel = alias + "".join(random.choice(string.ascii_letters) for _ in range(5))
        self.alias = alias

    @property
    def channel_layer(self) -> Any:
        """The layer wrapper of :attr:`alias` (looked up each time, so test swaps apply)."""
        return channel_layers[self.alias]

    def get_next_message(self, channel: str) -> Message | None:
        """The next message on ``channel``, or None."""
        received, content = self.channel_layer.receive([channel])
        if received is None:
            return None
        return Message(content, received, self.channel_layer)

    def get_consumer_by_channel(self, channel: str) -> Any:
        """The consumer the router picks for a bare message on ``channel`` (None if none)."""
        match = self.channel_layer.router.match(Message({"text": ""}, channel, self.channel_layer))
        return match[0] if match else None

    def send(self, to: str, content: dict[str, Any] | None = None) -> None:
        """Send ``content`` (copied; ``reply_channel`` added unless present) to channel ``to``."""
        content = copy.deepcopy(content or {})
        content.setdefault("reply_channel", self.reply_channel)
        self.channel_layer.send(to, content)

    def consume(self, channel: str, fail_on_none: bool = True) -> Any:
        """Take the next message on ``channel`` and run its consumer as the worker would.

        Sends made by the consumer are flushed when it returns (consumer atomicity); database
        connections are left open, as in the test process they belong to the test.
        ``AssertionError`` when there is no message or no consumer, if ``fail_on_none``.
        """
        message = self.get_next_message(channel)
        if message is None:
            if fail_on_none:
                raise AssertionError(f"No message for channel {channel}")
            return None
        match = self.channel_layer.router.match(message)
        if match is None:
            if fail_on_none:
                raise AssertionError(f"Can't find consumer for message {message}")
            return None
        consumer, kwargs = match
        try:
            consumer_started.send(sender=self.__class__, environ={})
            return consumer(message, **kwargs)
        except ChannelSocketException as error:
            error.run(message)
        finally:
            # Keep the test's database connection: it holds the test transaction.
            consumer_finished.disconnect(close_old_connections, dispatch_uid="worker.signals.close_old_connections")
            try:
                consumer_finished.send(sender=self.__class__)
            finally:
                consumer_finished.connect(close_old_connections, dispatch_uid="worker.signals.close_old_connections")
        return None

    def send_and_consume(self, channel: str, content: dict[str, Any] | None = None, fail_on_none: bool = True) -> Any:
        """:meth:`send` then :meth:`consume`."""
        self.send(channel, content)
        return self.consume(channel, fail_on_none=fail_on_none)

    def receive(self) -> dict[str, Any] | None:
        """The content of the next message on this client's reply channel, or None."""
        message = self.get_next_message(self.reply_channel)
        return message.content if message is not None else None

    def join_group(self, group_name: str) -> None:
        """Add this client's reply channel to a group."""
        Group(group_name, alias=self.alias).add(self.reply_channel)


class apply_routes:
    """Replace the routing of layer aliases for a block, a test function or a test class.

    ``routes`` is a routing object, a list of them, or a list of lists (each becomes an
    ``include``). Works as ``with apply_routes([...]):``, ``@apply_routes([...])`` on a function, and
    on a ``TestCase`` class (applied around each test's ``setUp``/``tearDown``).
    """

    def __init__(self, routes: Any, aliases: list[str] | None = None) -> None:
        self._aliases = list(aliases) if aliases is not None else [DEFAULT_CHANNEL_LAYER]
        self.routes = routes
        self._old: dict[str, tuple[Any, Any]] = {}

    def _routing(self) -> list[Any]:
        if isinstance(self.routes, (list, tuple)):
            if self.routes and isinstance(self.routes[0], (list, tuple)):
                return [Include(routes) for routes in self.routes]
            return list(self.routes)
        return [self.routes]

    def enter(self) -> None:
        """Install the routes, keeping the old ones."""
        for alias in self._aliases:
            layer = channel_layers[alias]
            self._old[alias] = (layer.routing, layer.router)
            routing = self._routing()
            layer.routing = routing
            layer.router = Router(routing)

    def exit(self, exc_type: Any = None, exc_val: Any = None, exc_tb: Any = None) -> None:
        """Put the old routes back."""
        for alias in self._aliases:
            layer = channel_layers[alias]
            layer.routing, layer.router = self._old.pop(alias)

    __enter__ = enter
    __exit__ = exit

    def __call__(self, test_func: Any) -> Any:
        if isinstance(test_func, type):
            old_setup, old_teardown = getattr(test_func, "setUp"), getattr(test_func, "tearDown")  # noqa: B009

            def setUp(this: Any) -> None:
                self.enter()
                old_setup(this)

            def tearDown(this: Any) -> None:
                try:
                    old_teardown(this)
                finally:
                    self.exit()

            setattr(test_func, "setUp", setUp)  # noqa: B010 - patching a class
            setattr(test_func, "tearDown", tearDown)  # noqa: B010
            return test_func

        @wraps(test_func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self:
                return test_func(*args, **kwargs)

        return inner

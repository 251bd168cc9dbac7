"""``Channel`` and ``Group``: the user-facing handles for sending (Channels 1.1.8 API).

Inside a consumer, sends are buffered and go out when the consumer finishes (see
:mod:`worker.pending`); outside one, or with ``immediately=True``, they go out at once and a full
channel raises ``ChannelFull`` to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .asgi import DEFAULT_CHANNEL_LAYER, channel_layers
from .pending import pending_message_store
from .signals import consumer_finished, consumer_started

__all__ = ["Channel", "Group"]


def _text(name: str | bytes) -> str:
    if isinstance(name, bytes):
        return name.decode("ascii")
    if not isinstance(name, str):
        raise TypeError(f"channel and group names must be str, not {type(name).__name__}")
    return name


class Channel:
    """A named channel on a layer (by alias, default ``"default"``, or given as ``channel_layer``)."""

    def __init__(self, name: str | bytes, alias: str = DEFAULT_CHANNEL_LAYER, channel_layer: Any = None) -> None:
        self.name = _text(name)
        self.channel_layer = channel_layer if channel_layer is not None else channel_layers[alias]

    @classmethod
    def unnamed(cls, channel_layer: Any = None) -> Channel:
        """The ``.channel`` of a message built without a channel name, ``Message(content, None, None)``.

        Channels 1.1.8's own tests and many users' tests build messages that way; its ``name`` is
        None, as it was in 1.1.8, and sending on it raises ``TypeError``.
        """
        channel = cls.__new__(cls)
        channel.name = None  # type: ignore[assignment]
        channel.channel_layer = channel_layer if channel_layer is not None else channel_layers[DEFAULT_CHANNEL_LAYER]
        return channel

    def send(self, content: Mapping[str, Any], immediately: bool = False) -> None:
        """Send ``content`` (a dict, else ``TypeError``); buffered inside a consumer unless ``immediately``."""
        if not isinstance(content, dict):
            raise TypeError("You can only send dicts as content on channels.")
        if self.name is None:
            raise TypeError("This channel has no name (the message was built as Message(content, None, ...)).")
        if immediately or not pending_message_store.active:
            self.channel_layer.send(self.name, content)
        else:
            pending_message_store.append(self, content)

    def __str__(self) -> str:
        return str(self.name)

    def __repr__(self) -> str:
        return f"<Channel {self.name!r}>"


class Group:
    """A named group of channels; members expire after the layer's ``group_expiry``."""

    def __init__(self, name: str | bytes, alias: str = DEFAULT_CHANNEL_LAYER, channel_layer: Any = None) -> None:
        self.name = _text(name)
        self.channel_layer = channel_layer if channel_layer is not None else channel_layers[alias]

    def add(self, channel: Channel | str) -> None:
        """Add a channel (a ``Channel`` or its name); takes effect at once, never buffered."""
        self.channel_layer.group_add(self.name, channel.name if isinstance(channel, Channel) else channel)

    def discard(self, channel: Channel | str) -> None:
        """Remove a channel (a ``Channel`` or its name); takes effect at once, never buffered."""
        self.channel_layer.group_discard(self.name, channel.name if isinstance(channel, Channel) else channel)

    def send(self, content: Mapping[str, Any], immediately: bool = False) -> None:
        """Send to every member (a dict, else ``ValueError``); buffered inside a consumer unless ``immediately``."""
        if not isinstance(content, dict):
            raise ValueError("You can only send dicts as content on channels.")
        if immediately or not pending_message_store.active:
            self.channel_layer.send_group(self.name, content)
        else:
            pending_message_store.append(self, content)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Group {self.name!r}>"


consumer_started.connect(pending_message_store.prepare, dispatch_uid="worker.pending.prepare")
consumer_finished.connect(pending_message_store.send_and_flush, dispatch_uid="worker.pending.flush")

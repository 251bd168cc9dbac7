"""``Message``: what a consumer receives (Channels 1.1.8 API).

It wraps the message dict (``.content``) with the channel it came in on (``.channel``), its
``.reply_channel`` (or None) and the layer wrapper (``.channel_layer``), and reads like a dict.
Decorators add ``.channel_session``, ``.http_session`` and ``.user``.
"""

from __future__ import annotations

import copy
from collections.abc import ItemsView, KeysView, ValuesView
from typing import Any

from .channel import Channel
from .pending import PendingMessageStore, pending_message_store

__all__ = ["Message", "PendingMessageStore", "pending_message_store"]


class Message:
    """A received message: ``Message(content, channel_name, channel_layer)``.

    ``channel_name`` may be None and ``channel_layer`` None (the default layer), as in 1.1.8, for a
    message built by hand in a test: ``Message({"reply_channel": "test-reply"}, None, None)``.
    """

    # Set by the session and auth decorators (annotations only: hasattr() stays False until then).
    channel_session: Any
    http_session: Any
    user: Any

    #: Set to True by the worker on the last delivery before a ConsumeLater'd message is dropped.
    __doomed__ = False

    def __init__(self, content: dict[str, Any], channel_name: str | None, channel_layer: Any) -> None:
        self.content = content
        self.channel = (
            Channel.unnamed(channel_layer)
            if channel_name is None
            else Channel(channel_name, channel_layer=channel_layer)
        )
        self.channel_layer = channel_layer
        reply = content.get("reply_channel")
        self.reply_channel: Channel | None = Channel(reply, channel_layer=channel_layer) if reply else None

    def __getitem__(self, key: str) -> Any:
        return self.content[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.content[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self.content

    def keys(self) -> KeysView[str]:
        return self.content.keys()

    def values(self) -> ValuesView[Any]:
        return self.content.values()

    def items(self) -> ItemsView[str, Any]:
        return self.content.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self.content.get(key, default)

    def copy(self) -> Message:
        """A message with a deep copy of the content, safe to modify (routing's ``include`` uses it)."""
        return self.__class__(copy.deepcopy(self.content), self.channel.name, self.channel_layer)

    def __repr__(self) -> str:
        return f"<Message on {self.channel.name!r}>"

"""WebSocket consumers (Channels 1.1.8): ``WebsocketConsumer``, ``JsonWebsocketConsumer``, and the
``{"stream", "payload"}`` multiplexing pair ``WebsocketMultiplexer`` / ``WebsocketDemultiplexer``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.serializers.json import DjangoJSONEncoder

from ..auth import channel_and_http_session_user_from_http, channel_session_user_from_http
from ..channel import Channel, Group
from ..exceptions import SendNotAvailableOnDemultiplexer
from ..message import Message
from ..sessions import enforce_ordering
from .base import BaseConsumer

__all__ = ["JsonWebsocketConsumer", "WebsocketConsumer", "WebsocketDemultiplexer", "WebsocketMultiplexer"]


def _frame(text: str | None, bytes: bytes | None, close: Any) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if close:
        message["close"] = close
    if text is not None:
        message["text"] = text
    elif bytes is not None:
        message["bytes"] = bytes
    else:
        raise ValueError("You must pass text or bytes")
    return message


class WebsocketConsumer(BaseConsumer):
    """A WebSocket connection's consumer: override ``connect``, ``receive`` and ``disconnect``.

    ``http_user`` copies the login from the HTTP session on connect (implies
    ``channel_session_user``); ``http_user_and_session`` keeps the HTTP session too;
    ``strict_ordering`` applies ``enforce_ordering``. ``groups`` (or ``connection_groups()``) are
    joined on connect and left on disconnect.
    """

    method_mapping: ClassVar[dict[str, str]] = {
        "websocket.connect": "raw_connect",
        "websocket.receive": "raw_receive",
        "websocket.disconnect": "raw_disconnect",
    }
    http_user = False
    http_user_and_session = False
    strict_ordering = False
    groups: list[str] | tuple[str, ...] | None = None

    def get_handler(self, message: Message, **kwargs: Any) -> Callable[..., Any]:
        if self.http_user or self.http_user_and_session:
            self.channel_session_user = True
        self.path = message["path"]
        handler = super().get_handler(message, **kwargs)
        if self.http_user_and_session:
            handler = channel_and_http_session_user_from_http(handler)
        elif self.http_user:
            handler = channel_session_user_from_http(handler)
        if self.strict_ordering:
            wrapped: Callable[..., Any] = enforce_ordering(handler, slight=False)
            return wrapped
        if getattr(self, "slight_ordering", False):
            raise ValueError("Slight ordering is now always on. Please remove `slight_ordering=True`.")
        return handler

    def connection_groups(self, **kwargs: Any) -> list[str] | tuple[str, ...]:
        """The groups a connection joins (a list, not a string)."""
        return self.groups or []

    def raw_connect(self, message: Message, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            Group(group, channel_layer=message.channel_layer).add(message.reply_channel)  # type: ignore[arg-type]
        self.connect(message, **kwargs)

    def connect(self, message: Message, **kwargs: Any) -> None:
        """Default: accept the connection."""
        self._reply_channel().send({"accept": True})

    def raw_receive(self, message: Message, **kwargs: Any) -> None:
        if "text" in message:
            self.receive(text=message["text"], **kwargs)
        else:
            self.receive(bytes=message["bytes"], **kwargs)

    def receive(self, text: str | None = None, bytes: bytes | None = None, **kwargs: Any) -> None:
        """Called with each frame's ``text`` or ``bytes``."""

    def send(self, text: str | None = None, bytes: bytes | None = None, close: Any = False) -> None:
        """Send a frame (``text`` or ``bytes``, else ``ValueError``), optionally closing after it."""
        self._reply_channel().send(_frame(text, bytes, close))

    @classmethod
    def group_send(cls, name: str, text: str | None = None, bytes: bytes | None = None, close: Any = False) -> None:
        Group(name).send(_frame(text, bytes, close))

    def close(self, status: Any = True) -> None:
        """Close the socket (``status``: True for 1000, or a close code)."""
        self._reply_channel().send({"close": status})

    def raw_disconnect(self, message: Message, **kwargs: Any) -> None:
        for group in self.connection_groups(**kwargs):
            Group(group, channel_layer=message.channel_layer).discard(message.reply_channel)  # type: ignore[arg-type]
        self.disconnect(message, **kwargs)

    def disconnect(self, message: Message, **kwargs: Any) -> None:
        """Called when the socket has closed."""

    def _reply_channel(self) -> Channel:
        if self.message.reply_channel is None:
            raise ValueError("This message has no reply_channel to send to.")
        return self.message.reply_channel


class JsonWebsocketConsumer(WebsocketConsumer):
    """A WebSocket consumer speaking JSON text frames; binary frames raise ``ValueError``."""

    def raw_receive(self, message: Message, **kwargs: Any) -> None:
        if "text" in message:
            self.receive(self.decode_json(message["text"]), **kwargs)
        else:
            raise ValueError("No text section for incoming WebSocket frame!")

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Called with each frame's decoded JSON."""

    def send(self, content: Any = None, close: Any = False) -> None:  # type: ignore[override]
        """Send ``content`` as a JSON text frame."""
        super().send(text=self.encode_json(content), close=close)

    @classmethod
    def decode_json(cls, text: str) -> Any:
        return json.loads(text)

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content)

    @classmethod
    def group_send(cls, name: str, content: Any = None, close: Any = False) -> None:  # type: ignore[override]
        WebsocketConsumer.group_send(name, cls.encode_json(content), close=close)


class WebsocketMultiplexer:
    """Sends one stream's payloads over a multiplexed socket: ``{"stream": s, "payload": p}``."""

    stream: str | None = None
    reply_channel: Channel | None = None

    def __init__(self, stream: str, reply_channel: Channel) -> None:
        self.stream = stream
        self.reply_channel = reply_channel

    def send(self, payload: Any) -> None:
        assert self.reply_channel is not None and self.stream is not None
        self.reply_channel.send(self.encode(self.stream, payload))

    @classmethod
    def encode_json(cls, content: Any) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        """The text frame carrying ``payload`` on ``stream``."""
        return {"text": cls.encode_json({"stream": stream, "payload": payload})}

    @classmethod
    def group_send(cls, name: str, stream: str, payload: Any, close: bool = False) -> None:
        message = cls.encode(stream, payload)
        if close:
            message["close"] = True
        Group(name).send(message)


class WebsocketDemultiplexer(JsonWebsocketConsumer):
    """Dispatches ``{"stream", "payload"}`` frames to ``consumers = {stream: ConsumerClass}``.

    Each consumer gets the message with the payload re-encoded as its ``text`` and a
    ``multiplexer=`` keyword argument to answer through. Its own ``send`` raises
    ``SendNotAvailableOnDemultiplexer`` while it runs under the demultiplexer (Channels 1.1.8
    patched the consumer class itself, for good; here a subclass is used, so the class still sends
    normally where it is routed directly). ``connect`` accepts and then tells every consumer;
    ``disconnect`` tells every consumer.
    """

    consumers: ClassVar[dict[str, Any]] = {}
    multiplexer_class: ClassVar[type[WebsocketMultiplexer]] = WebsocketMultiplexer

    _guarded: ClassVar[dict[Any, Any]] = {}

    @classmethod
    def _guard(cls, consumer: Any) -> Any:
        if not isinstance(consumer, type) or not hasattr(consumer, "send"):
            return consumer
        guarded = WebsocketDemultiplexer._guarded.get(consumer)
        if guarded is None:

            def send(self: Any, *args: Any, **kwargs: Any) -> None:
                raise SendNotAvailableOnDemultiplexer("Use multiplexer.send of the multiplexer kwarg.")

            guarded = type(consumer.__name__, (consumer,), {"send": send, "__module__": consumer.__module__})
            WebsocketDemultiplexer._guarded[consumer] = guarded
        return guarded

    def receive(self, content: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        if not (isinstance(content, dict) and "stream" in content and "payload" in content):
            raise ValueError("Invalid multiplexed frame received (no channel/payload key)")
        for stream, consumer in self.consumers.items():
            if stream != content["stream"]:
                continue
            payload = content["payload"]
            if not isinstance(payload, dict):
                raise ValueError("Multiplexed frame payload is not a dict")
            self.message.content["text"] = self.encode_json(payload)
            kwargs["multiplexer"] = self.multiplexer_class(stream, self._reply_channel())
            self._guard(consumer)(self.message, **kwargs)
            return
        raise ValueError("Invalid multiplexed frame received (stream not mapped)")

    def connect(self, message: Message, **kwargs: Any) -> None:
        self._reply_channel().send({"accept": True})
        for stream, consumer in self.consumers.items():
            kwargs["multiplexer"] = self.multiplexer_class(stream, self._reply_channel())
            self._guard(consumer)(message, **kwargs)

    def disconnect(self, message: Message, **kwargs: Any) -> None:
        for stream, consumer in self.consumers.items():
            kwargs["multiplexer"] = self.multiplexer_class(stream, self._reply_channel())
            self._guard(consumer)(message, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> None:
        raise SendNotAvailableOnDemultiplexer("Use multiplexer.send of the multiplexer kwarg.")

    @classmethod
    def group_send(cls, name: str, stream: str | None = None, payload: Any = None, close: bool = False) -> None:  # type: ignore[override]
        raise SendNotAvailableOnDemultiplexer("Use WebsocketMultiplexer.group_send")

"""``channels.generic.websockets`` (from ``worker.generic.websockets``)."""

from worker.generic.websockets import (
    JsonWebsocketConsumer,
    WebsocketConsumer,
    WebsocketDemultiplexer,
    WebsocketMultiplexer,
)

__all__ = ["JsonWebsocketConsumer", "WebsocketConsumer", "WebsocketDemultiplexer", "WebsocketMultiplexer"]

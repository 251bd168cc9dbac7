"""``channels.exceptions`` (from ``worker.exceptions``)."""

from worker.exceptions import (
    ChannelSocketException,
    ConsumeLater,
    DenyConnection,
    RequestAborted,
    RequestTimeout,
    ResponseLater,
    SendNotAvailableOnDemultiplexer,
    WebsocketCloseException,
)

__all__ = [
    "ChannelSocketException",
    "ConsumeLater",
    "DenyConnection",
    "RequestAborted",
    "RequestTimeout",
    "ResponseLater",
    "SendNotAvailableOnDemultiplexer",
    "WebsocketCloseException",
]

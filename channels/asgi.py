"""``channels.asgi``: the layer manager and ``get_channel_layer`` (from ``worker.asgi``)."""

from worker.asgi import (
    DEFAULT_CHANNEL_LAYER,
    ChannelLayerManager,
    ChannelLayerWrapper,
    InvalidChannelLayerError,
    channel_layers,
    get_channel_layer,
)

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "ChannelLayerManager",
    "ChannelLayerWrapper",
    "InvalidChannelLayerError",
    "channel_layers",
    "get_channel_layer",
]

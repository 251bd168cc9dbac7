"""Test helpers for Channels 1 projects (``channels.test``): run consumers in-process, or live."""

from .base import ChannelTestCase, Client, TransactionChannelTestCase, apply_routes
from .liveserver import ChannelLiveServerTestCase
from .websocket import WSClient

__all__ = [
    "ChannelLiveServerTestCase",
    "ChannelTestCase",
    "Client",
    "HttpClient",
    "TransactionChannelTestCase",
    "WSClient",
    "apply_routes",
]


def __getattr__(name: str) -> object:
    # HttpClient is deprecated; importing it from here is still allowed (1.1.8 exported it).
    if name == "HttpClient":
        from .http import HttpClient

        return HttpClient
    raise AttributeError(f"module 'worker.test' has no attribute {name!r}")

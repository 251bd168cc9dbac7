"""``channels.test``: test helpers (from ``worker.test``)."""

from worker.test import (
    ChannelLiveServerTestCase,
    ChannelTestCase,
    Client,
    TransactionChannelTestCase,
    WSClient,
    apply_routes,
)
from worker.test.http import HttpClient

__all__ = [
    "ChannelLiveServerTestCase",
    "ChannelTestCase",
    "Client",
    "HttpClient",
    "TransactionChannelTestCase",
    "WSClient",
    "apply_routes",
]

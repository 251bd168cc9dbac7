"""``channels.tests``: the deprecated name of ``channels.test`` (warns on import, as 1.x did)."""

import warnings

from worker.test import ChannelTestCase, Client, TransactionChannelTestCase, WSClient, apply_routes
from worker.test.http import HttpClient

warnings.warn("channels.tests package is deprecated. Use channels.test", DeprecationWarning, stacklevel=2)

__all__ = ["ChannelTestCase", "Client", "HttpClient", "TransactionChannelTestCase", "WSClient", "apply_routes"]

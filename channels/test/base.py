"""``channels.test.base`` (from ``worker.test.base``)."""

from worker.test.base import ChannelTestCase, ChannelTestCaseMixin, Client, TransactionChannelTestCase, apply_routes

__all__ = ["ChannelTestCase", "ChannelTestCaseMixin", "Client", "TransactionChannelTestCase", "apply_routes"]

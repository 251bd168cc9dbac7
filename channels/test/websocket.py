"""``channels.test.websocket`` (from ``worker.test.websocket``)."""

from worker.test.websocket import WSClient

__all__ = ["WSClient"]

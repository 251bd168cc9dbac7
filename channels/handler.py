"""``channels.handler`` (from ``worker.handler``)."""

from worker.handler import AsgiHandler, AsgiRequest, ViewConsumer

__all__ = ["AsgiHandler", "AsgiRequest", "ViewConsumer"]

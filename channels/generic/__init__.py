"""``channels.generic`` (from ``worker.generic``)."""

from worker.generic import BaseConsumer

__all__ = ["BaseConsumer"]

"""``channels.generic.base`` (from ``worker.generic.base``)."""

from worker.generic.base import BaseConsumer

__all__ = ["BaseConsumer"]

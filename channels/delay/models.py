"""``channels.delay.models``: the app's models module, re-exported from ``worker.delay.models``."""

from worker.delay.models import DelayedMessage, DelayedMessageQuerySet

__all__ = ["DelayedMessage", "DelayedMessageQuerySet"]

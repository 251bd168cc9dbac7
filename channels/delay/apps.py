"""``channels.delay.apps.DelayConfig`` (label ``channels_delay``; see ``worker.delay.apps``)."""

from worker.delay.apps import DelayConfig

__all__ = ["DelayConfig"]

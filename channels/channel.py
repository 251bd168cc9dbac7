"""``channels.channel`` (from ``worker.channel``)."""

from worker.channel import Channel, Group

__all__ = ["Channel", "Group"]

"""``channels.utils`` (from ``worker.utils``)."""

from worker.utils import name_that_thing

__all__ = ["name_that_thing"]

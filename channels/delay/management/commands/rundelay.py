"""``manage.py rundelay`` (defined in ``worker.delay.command``)."""

from worker.delay.command import Command

__all__ = ["Command"]

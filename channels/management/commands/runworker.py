"""``manage.py runworker`` (implemented in ``worker.management.commands.runworker``)."""

from worker.management.commands.runworker import Command

__all__ = ["Command"]

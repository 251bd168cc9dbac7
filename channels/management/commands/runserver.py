"""``manage.py runserver`` (implemented in ``worker.management.commands.runserver``)."""

from worker.management.commands.runserver import Command, WorkerThread

__all__ = ["Command", "WorkerThread"]

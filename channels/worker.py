"""``channels.worker`` (from ``worker.worker``)."""

from worker.worker import Worker, WorkerGroup

__all__ = ["Worker", "WorkerGroup"]

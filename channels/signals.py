"""``channels.signals`` (from ``worker.signals``)."""

from worker.signals import consumer_finished, consumer_started, worker_process_ready, worker_ready

__all__ = ["consumer_finished", "consumer_started", "worker_process_ready", "worker_ready"]

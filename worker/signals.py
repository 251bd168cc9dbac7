"""The worker's lifecycle signals (Channels 1.1.8 names).

- ``consumer_started(sender, environ)``: before each consumer runs; opens the send buffer.
- ``consumer_finished(sender)``: after each consumer, even when it raised; flushes the send buffer
  and closes stale database connections (``django.db.close_old_connections``).
- ``worker_ready(sender)``: once per worker loop, when it is set up.
- ``worker_process_ready(sender)``: once per ``runworker`` process.

Django removed ``providing_args`` in 4.0, so the signals are declared without it.
"""

from __future__ import annotations

from django.db import close_old_connections
from django.dispatch import Signal

__all__ = ["consumer_finished", "consumer_started", "worker_process_ready", "worker_ready"]

consumer_started = Signal()
consumer_finished = Signal()
worker_ready = Signal()
worker_process_ready = Signal()

# Each consumer is a unit of work like a request: stale or broken connections are dropped after it.
consumer_finished.connect(close_old_connections, dispatch_uid="worker.signals.close_old_connections")

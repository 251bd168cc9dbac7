"""``channels.delay.worker``: the 1.1.8 module of the delay loop."""

from worker.delay.server import DelayServer, Worker

__all__ = ["DelayServer", "Worker"]

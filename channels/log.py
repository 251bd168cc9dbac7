"""``channels.log`` (from ``worker.log``)."""

from worker.log import handler, setup_logger

__all__ = ["handler", "setup_logger"]

"""``channels.staticfiles`` (from ``worker.staticfiles``)."""

from worker.staticfiles import StaticFilesConsumer, StaticFilesHandler

__all__ = ["StaticFilesConsumer", "StaticFilesHandler"]

"""``channels.test.http``: the deprecated ``HttpClient`` (from ``worker.test.http``)."""

from worker.test.http import HttpClient

__all__ = ["HttpClient"]

"""``channels.binding`` (from ``worker.binding``)."""

from worker.binding import Binding

__all__ = ["Binding"]

"""Class-based consumers (Channels 1.1.8): ``BaseConsumer`` and the WebSocket family."""

from .base import BaseConsumer

__all__ = ["BaseConsumer"]

"""The exceptions of the channel layer: one root, and the line between misuse and backend trouble.

API misuse (a bad channel name, a message that is not a dict, an unknown option) raises
``TypeError``/``ValueError`` subclasses naming the offending value. Trouble with the backend or the
peer raises :class:`BackendUnavailable`; redis-py and sqlite3 errors are converted once, at the
boundary, so callers never see a raw driver exception.
"""

from __future__ import annotations

__all__ = [
    "ChannelLayerError",
    "ChannelFull",
    "ChannelPaused",
    "MessageTooLarge",
    "BackendUnavailable",
    "BackendFull",
    "InvalidName",
    "InvalidMessage",
]


class ChannelLayerError(Exception):
    """Root of every error the channel layer raises on its own account."""


class ChannelFull(ChannelLayerError):
    """The channel is at capacity; the sender decides whether to retry or drop (ASGI 1 §Capacity)."""


class ChannelPaused(ChannelFull):
    """A windowed send found the receiving connection paused (its client is not reading): wait and retry.

    A kind of ChannelFull, so a sender that only knows that one retries as it would for a full
    channel; a sender that knows this one keeps waiting instead of falling back to full capacity.
    """


class MessageTooLarge(ChannelLayerError, ValueError):
    """The encoded message is larger than the layer accepts (1 MiB unless configured otherwise)."""

    def __init__(self, channel: str, size: int, limit: int) -> None:
        super().__init__(f"message for channel {channel!r} is {size} bytes encoded; the limit is {limit} bytes")
        self.channel = channel
        self.size = size
        self.limit = limit


class BackendUnavailable(ChannelLayerError):
    """The backend could not be reached or did not answer in time; the layer reconnects by itself."""


class BackendFull(BackendUnavailable):
    """The backend is up but refuses writes for lack of memory (Redis at ``maxmemory`` with noeviction).

    A kind of BackendUnavailable, so code that handles that keeps working; an interface server
    answers it as it answers ChannelFull (503 with Retry-After, WebSocket close 1013): try again later.
    """


class InvalidName(TypeError, ValueError):
    """A channel or group name breaks the ASGI 1 naming rules.

    It is a ``TypeError`` because asgiref 1.x raised that for bad names (and old code catches it),
    and a ``ValueError`` because that is what the mistake really is.
    """


class InvalidMessage(TypeError):
    """A message is not a dict of ASGI-serialisable values."""

"""``channels.sessions`` (from ``worker.sessions``)."""

from worker.sessions import (
    channel_and_http_session,
    channel_session,
    enforce_ordering,
    http_session,
    requeue_messages,
    session_for_reply_channel,
    wait_channel_name,
)

__all__ = [
    "channel_and_http_session",
    "channel_session",
    "enforce_ordering",
    "http_session",
    "requeue_messages",
    "session_for_reply_channel",
    "wait_channel_name",
]

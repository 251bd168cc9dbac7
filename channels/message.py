"""``channels.message`` (from ``worker.message``)."""

from worker.message import Message, PendingMessageStore, pending_message_store

__all__ = ["Message", "PendingMessageStore", "pending_message_store"]

"""``channels.binding.websockets`` (from ``worker.binding.websockets``)."""

from worker.binding.websockets import WebsocketBinding, WebsocketBindingWithMembers

__all__ = ["WebsocketBinding", "WebsocketBindingWithMembers"]

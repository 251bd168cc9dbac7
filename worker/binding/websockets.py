"""``WebsocketBinding``: data binding over a JSON WebSocket multiplexed by ``{"stream", "payload"}``.

Outbound payload: ``{"action": "create"|"update"|"delete", "pk": pk, "data": {fields}, "model":
"app_label.modelname"}``, wrapped by ``WebsocketMultiplexer.encode`` into a text frame. Inbound
frames (already demultiplexed) carry ``{"action", "pk", "data"}``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder

from ..generic.websockets import WebsocketMultiplexer
from ..sessions import enforce_ordering
from .base import Binding

__all__ = ["WebsocketBinding", "WebsocketBindingWithMembers"]


def _all_fields(fields: Any) -> bool:
    return fields == "__all__" or (isinstance(fields, (list, tuple)) and list(fields) == ["__all__"])


class WebsocketBinding(Binding):
    """JSON-over-WebSocket binding. Implement ``group_names`` (outbound) and ``has_permission`` (inbound);
    override ``serialize_data``, ``create`` or ``update`` to change how instances are read and written.
    """

    model: Any = None  # abstract

    #: The multiplexer stream name of this binding.
    stream: str | None = None

    #: Wrap inbound handling in ``enforce_ordering``.
    strict_ordering = False
    #: ``enforce_ordering(slight=True)`` is gone (it raises ValueError), as in 1.1.8.
    slight_ordering = False

    # -- outbound -------------------------------------------------------------------------------

    @classmethod
    def encode(cls, stream: str, payload: Any) -> dict[str, Any]:
        return WebsocketMultiplexer.encode(stream, payload)

    def serialize(self, instance: Any, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "pk": instance.pk,
            "data": self.serialize_data(instance),
            "model": self.model_label,
        }

    def _field_names(self, instance: Any) -> list[str] | None:
        if self.fields is not None:
            return None if _all_fields(self.fields) else list(self.fields)
        return [f.name for f in instance._meta.get_fields() if f.name not in self.exclude]

    def serialize_data(self, instance: Any) -> dict[str, Any]:
        """The instance's fields as JSON-safe data (Django's JSON serializer)."""
        data = serializers.serialize("json", [instance], fields=self._field_names(instance))
        fields: dict[str, Any] = json.loads(data)[0]["fields"]
        return fields

    # -- inbound --------------------------------------------------------------------------------

    @classmethod
    def get_handler(cls) -> Any:
        handler = super().get_handler()
        if cls.strict_ordering:
            return enforce_ordering(handler, slight=False)
        if cls.slight_ordering:
            return enforce_ordering(handler, slight=True)
        return handler

    @classmethod
    def trigger_inbound(cls, message: Any, **kwargs: Any) -> None:
        """Only ``websocket.receive`` frames are acted on; connect and disconnect pass through."""
        if message.channel.name != "websocket.receive":
            return
        super().trigger_inbound(message, **kwargs)

    def deserialize(self, message: Any) -> tuple[str, Any, Any]:
        body = json.loads(message["text"])
        return body["action"], body.get("pk"), body.get("data")

    def _hydrate(self, pk: Any, data: Any) -> Any:
        """A ``DeserializedObject`` for ``pk`` with the incoming ``data`` as its fields."""
        raw = [{"pk": pk, "model": self.model_label, "fields": data}]
        return next(iter(serializers.deserialize("python", raw)))

    def _writable(self, name: str) -> bool:
        if self.fields is not None:
            return _all_fields(self.fields) or name in self.fields
        return name not in self.exclude

    def create(self, data: Any) -> None:
        self._hydrate(None, data).save()

    def update(self, pk: Any, data: Any) -> None:
        """Copy the incoming fields allowed by ``fields`` / ``exclude`` onto the instance and save it."""
        instance = self.model.objects.get(pk=pk)
        hydrated = self._hydrate(pk, data)
        for name in data:
            if self._writable(name):
                setattr(instance, name, getattr(hydrated.object, name))
        instance.save()


class WebsocketBindingWithMembers(WebsocketBinding):
    """``WebsocketBinding`` that also sends ``send_members``: attribute paths (``"a.b"`` sent as
    ``"a__b"``) on the instance; callables are called with no arguments.
    """

    model = None  # abstract
    send_members: list[str] = []
    encoder = DjangoJSONEncoder()

    def serialize_data(self, instance: Any, **kwargs: Any) -> dict[str, Any]:
        data = super().serialize_data(instance)
        members: dict[str, Any] = {}
        for path in self.send_members:
            member = instance
            for part in path.split("."):
                member = getattr(member, part)
            members[path.replace(".", "__")] = member() if callable(member) else member
        data.update(json.loads(self.encoder.encode(members)))
        return data

"""Data binding (reference §5.10): outbound create/update/delete diffs to groups, inbound actions from frames."""

from __future__ import annotations

import json

import pytest

from tests.djangoapp_http import bootstrap

bootstrap.setup()

from django.test import TestCase  # noqa: E402

from tests.djangoapp_http.models import Note  # noqa: E402
from worker.binding import Binding, BindingMetaclass  # noqa: E402
from worker.binding.websockets import WebsocketBinding, WebsocketBindingWithMembers  # noqa: E402
from worker.generic.websockets import WebsocketDemultiplexer  # noqa: E402
from worker.routing import route, route_class  # noqa: E402
from worker.test import ChannelTestCase, Client, WSClient, apply_routes  # noqa: E402


class NoteBinding(WebsocketBinding):
    model = "djangoapp_http.Note"
    stream = "notes"
    fields = ["title", "group"]

    @classmethod
    def group_names(cls, instance):
        return [f"binding-notes-{instance.group}"]

    def has_permission(self, user, action, pk):
        return self.message.content.get("deny") is None and not json.loads(self.message["text"]).get("deny")


class NoteMembersBinding(WebsocketBindingWithMembers):
    model = Note
    stream = "members"
    exclude = ["count"]
    send_members = ["shout", "title.upper", "pk"]

    @classmethod
    def group_names(cls, instance):
        return ["binding-members"] if instance.title.startswith("m") else []


class Demux(WebsocketDemultiplexer):
    consumers = {"notes": NoteBinding.consumer}


def frames(client: Client) -> list[dict]:
    out = []
    while (content := client.receive()) is not None:
        out.append(json.loads(content["text"]))
    return out


class OutboundTests(ChannelTestCase):
    def test_create_update_move_delete(self):
        """Group diffs become create (new groups), update (kept), delete (lost), each as a multiplexed frame."""
        a, b = Client(), Client()
        a.join_group("binding-notes-a")
        b.join_group("binding-notes-b")
        note = Note.objects.create(title="one", group="a")
        [created] = frames(a)
        assert created == {
            "stream": "notes",
            "payload": {
                "action": "create",
                "pk": note.pk,
                "data": {"title": "one", "group": "a"},
                "model": "djangoapp_http.note",
            },
        }
        note.title = "two"
        note.save()
        assert [f["payload"]["action"] for f in frames(a)] == ["update"]
        note.group = "b"
        note.save()
        assert [(f["payload"]["action"], f["payload"]["data"]["group"]) for f in frames(a)] == [("delete", "b")]
        assert [f["payload"]["action"] for f in frames(b)] == ["create"]
        pk = note.pk
        note.delete()
        [deleted] = frames(b)
        assert deleted["payload"]["action"] == "delete" and deleted["payload"]["pk"] == pk
        assert frames(a) == []

    def test_members_and_exclude(self):
        """WebsocketBindingWithMembers adds attribute paths (dots as __, callables called); exclude drops fields."""
        client = Client()
        client.join_group("binding-members")
        note = Note.objects.create(title="mango", group="z", count=5)
        Note.objects.create(title="not sent", group="z")
        [frame] = frames(client)
        assert frame["stream"] == "members"
        assert frame["payload"]["data"] == {
            "title": "mango",
            "group": "z",
            "shout": "MANGO",
            "title__upper": "MANGO",
            "pk": note.pk,
        }

    def test_empty_serialize_sends_nothing(self):
        """serialize() returning {} sends nothing to any group."""

        class Silent(NoteBinding):
            stream = "silent"

            @classmethod
            def group_names(cls, instance):
                return ["binding-silent"]

            def serialize(self, instance, action):
                return {}

        client = Client()
        client.join_group("binding-silent")
        Note.objects.create(title="quiet")
        assert frames(client) == []
        BindingMetaclass.binding_classes.remove(Silent)


class InboundTests(ChannelTestCase):
    def _client(self) -> WSClient:
        client = WSClient()
        client.send_and_consume("websocket.connect", path="/")
        return client

    @apply_routes([route_class(Demux)])
    def test_create_update_delete_from_frames(self):
        """Frames {action, pk, data} on the stream create, update (only bound fields) and delete rows."""
        client = self._client()
        client.send_and_consume(
            "websocket.receive",
            text={"stream": "notes", "payload": {"action": "create", "data": {"title": "in", "group": "q"}}},
        )
        note = Note.objects.get(title="in")
        client.send_and_consume(
            "websocket.receive",
            text={
                "stream": "notes",
                "payload": {"action": "update", "pk": note.pk, "data": {"title": "up", "count": 9}},
            },
        )
        note.refresh_from_db()
        assert (note.title, note.count) == ("up", 0)  # count is not a bound field
        client.send_and_consume(
            "websocket.receive", text={"stream": "notes", "payload": {"action": "delete", "pk": note.pk}}
        )
        assert not Note.objects.filter(pk=note.pk).exists()

    @apply_routes([route_class(Demux)])
    def test_permission_denied_does_nothing(self):
        """has_permission returning False leaves the database untouched."""
        client = self._client()
        client.send_and_consume(
            "websocket.receive",
            text={"stream": "notes", "payload": {"action": "create", "data": {"title": "no"}, "deny": True}},
        )
        assert not Note.objects.filter(title="no").exists()

    @apply_routes([route_class(Demux)])
    def test_bad_action_raises(self):
        """An unknown action is a ValueError naming it."""
        client = self._client()
        with pytest.raises(ValueError, match="Bad action 'explode'"):
            client.send_and_consume("websocket.receive", text={"stream": "notes", "payload": {"action": "explode"}})


class RegistrationTests(TestCase):
    def test_model_required(self):
        """After app ready, defining a binding without a model raises ValueError; model=None marks it abstract."""
        with pytest.raises(ValueError, match="must set the model"):

            class NoModel(Binding):
                fields = ["title"]

        class Abstract(Binding):
            model = None

        try:
            assert Abstract.get_registered_models() == []
            assert not any(k.__name__ == "NoModel" for k in BindingMetaclass.binding_classes)
        finally:
            BindingMetaclass.binding_classes.remove(Abstract)

    def test_fields_or_exclude_required(self):
        """A binding with a model but neither fields nor exclude raises ValueError naming both."""
        with pytest.raises(ValueError, match="fields or exclude"):

            class NoFields(Binding):
                model = Note

    def test_register_all_ran_at_app_ready(self):
        """The channels app's ready() registered the bindings, so new subclasses register at once."""
        assert BindingMetaclass.register_immediately is True
        assert NoteBinding in BindingMetaclass.binding_classes
        assert NoteBinding.model is Note  # the "app.Model" string was resolved


class OrderedNoteBinding(NoteBinding):
    stream = "ordered"
    strict_ordering = True

    @classmethod
    def group_names(cls, instance):
        return []


class StrictOrderingTests(ChannelTestCase):
    @apply_routes(
        [
            route("websocket.connect", OrderedNoteBinding.consumer),
            route("websocket.receive", OrderedNoteBinding.consumer),
        ]
    )
    def test_out_of_order_frame_waits_for_its_turn(self):
        """With strict_ordering, frame 2 is held back until frame 1 has been applied (enforce_ordering)."""
        client = WSClient(ordered=True)
        client.send_and_consume("websocket.connect", path="/", check_accept=False)
        client.send("websocket.receive", text={"action": "create", "data": {"title": "first"}})
        first = self.get_next_message("websocket.receive", require=True)
        client.send_and_consume("websocket.receive", text={"action": "create", "data": {"title": "second"}})
        assert not Note.objects.filter(title="second").exists()  # order 2 before order 1: parked
        client.channel_layer.send("websocket.receive", first.content)  # frame 1 arrives late
        client.consume("websocket.receive")  # order 1 runs, then the parked order 2 is requeued
        client.consume("websocket.receive")
        assert list(Note.objects.order_by("pk").values_list("title", flat=True)) == ["first", "second"]

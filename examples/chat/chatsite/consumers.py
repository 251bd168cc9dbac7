"""WebSocket consumers, written against the Channels 1.1.8 API exactly as a 1.x project would.

Two sockets per room page:

* ``/chat/<room>/`` -- the room's chat, function consumers in the style of the Channels 1 tutorial:
  ``channel_session_user_from_http`` copies the login from the page's HTTP session into the channel
  session on connect, ``channel_session_user`` brings it back on every later message, and each room is
  a ``Group``.
* ``/live/<room>/`` -- one ``WebsocketDemultiplexer`` carrying two streams: ``notes`` (the room's live
  list, a ``WebsocketBinding``) and ``reports`` (ask for a room report, hear when it is rendered).
"""

import json

from channels import Channel, Group
from channels.auth import channel_session_user, channel_session_user_from_http
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer

from .bindings import NoteBinding
from .models import ChatMessage, Report


def room_group(room):
    return Group(f"chat-{room}")


def user_group_name(user):
    """The group every live socket of one user joins: background jobs report back through it."""
    return f"user-{user.pk}"


def _say(room, **content):
    room_group(room).send({"text": json.dumps(content)})


@channel_session_user_from_http
def chat_connect(message, room):
    if not message.user.is_authenticated:
        message.reply_channel.send({"close": True})  # before accept: the handshake is refused (403)
        return
    message.channel_session["room"] = room
    message.reply_channel.send({"accept": True})
    room_group(room).add(message.reply_channel)
    _say(room, system=f"{message.user.username} joined {room}")


@channel_session_user
def chat_receive(message, room):
    try:
        text = str(json.loads(message.content["text"])["text"]).strip()[:2000]
    except (KeyError, TypeError, ValueError):
        return  # not a frame our page sends; ignore it
    if not text or not message.user.is_authenticated:
        return
    ChatMessage.objects.create(room=room, author=message.user, text=text)
    _say(room, user=message.user.username, message=text)


@channel_session_user
def chat_disconnect(message, room):
    room_group(room).discard(message.reply_channel)
    if message.user.is_authenticated:
        _say(room, system=f"{message.user.username} left")


class ReportRequests(JsonWebsocketConsumer):
    """The ``reports`` stream: ``{"room": ...}`` queues a report for the ``reports.render`` pool."""

    channel_session_user = True

    def connect(self, message, **kwargs):
        pass  # the demultiplexer has accepted the socket already

    def disconnect(self, message, **kwargs):
        pass

    def receive(self, content, multiplexer, room, **kwargs):
        report = Report.objects.create(room=room, owner=self.message.user)
        # Rendering takes a while: hand it to the background pool, answer the page at once.
        Channel("reports.render").send({"report": report.pk})
        multiplexer.send({"report": report.pk, "status": report.status, "room": room})


class LiveStream(WebsocketDemultiplexer):
    """``/live/<room>/``: the room's notes and the user's reports over one socket, logged-in users only."""

    http_user = True
    # Frames of one socket are handled in the order they were sent (enforce_ordering), whichever
    # worker takes each: a "create" then "delete" from one page never runs the other way round.
    strict_ordering = True
    consumers = {"notes": NoteBinding.consumer, "reports": ReportRequests}

    def connection_groups(self, room, **kwargs):
        if not self.message.user.is_authenticated:
            return []
        return [NoteBinding.room_group_name(room), user_group_name(self.message.user)]

    def connect(self, message, **kwargs):
        if not message.user.is_authenticated:
            self.message.reply_channel.send({"close": True})
            return
        super().connect(message, **kwargs)

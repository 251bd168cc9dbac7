"""Chat consumers written against the Channels 1.1.8 API: function consumers, channel_session, Group."""

import json

from channels import Group
from channels.sessions import channel_session


def _group(room):
    return Group(f"chat-{room}")


@channel_session
def ws_connect(message, room):
    message.channel_session["room"] = room
    message.reply_channel.send({"accept": True})
    _group(room).add(message.reply_channel)
    _group(room).send({"text": json.dumps({"system": f"someone joined {room}"})})


@channel_session
def ws_receive(message):
    room = message.channel_session["room"]
    text = message.content.get("text", "")[:2000]
    _group(room).send({"text": json.dumps({"message": text})})


@channel_session
def ws_disconnect(message):
    room = message.channel_session.get("room")
    if room:
        _group(room).discard(message.reply_channel)

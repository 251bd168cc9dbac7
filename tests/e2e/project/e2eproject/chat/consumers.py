"""Chat rooms: function consumers with channel_session and groups, mounted with include()."""

import json

from channels import Group
from channels.sessions import channel_session


@channel_session
def chat_connect(message, room):
    message.channel_session["room"] = room
    Group(f"chat-{room}").add(message.reply_channel)
    message.reply_channel.send({"accept": True})


@channel_session
def chat_receive(message):
    room = message.channel_session["room"]
    Group(f"chat-{room}").send({"text": json.dumps({"room": room, "text": message["text"]})})


@channel_session
def chat_disconnect(message):
    Group("chat-{}".format(message.channel_session["room"])).discard(message.reply_channel)

"""A chat as a Channels 1 project writes it: the login comes from the HTTP session at connect and
from the channel session afterwards; the room lives in the channel session."""

import json
import os

from channels import Group
from channels.auth import channel_session_user, channel_session_user_from_http

STACK = os.environ.get("E2E_STACK", "?")


@channel_session_user_from_http
def room_connect(message, room):
    if not message.user.is_authenticated:
        message.reply_channel.send({"close": 4003})
        return
    message.channel_session["room"] = room
    Group("room-" + room).add(message.reply_channel)
    message.reply_channel.send({"accept": True})
    message.reply_channel.send({"text": json.dumps({"joined": room, "user": message.user.username, "stack": STACK})})


@channel_session_user
def room_receive(message):
    # Both lookups fail if the channel session was lost: KeyError, or an anonymous user's "".
    room = message.channel_session["room"]
    Group("room-" + room).send(
        {
            "text": json.dumps(
                {
                    "from": message.user.username,
                    "text": message["text"],
                    "stack": STACK,
                }
            )
        }
    )


@channel_session_user
def room_disconnect(message):
    room = message.channel_session.get("room")
    if room:
        Group("room-" + room).discard(message.reply_channel)

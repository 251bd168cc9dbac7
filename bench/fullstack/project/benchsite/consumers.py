"""WebSocket consumers in the Channels 1 API (ours and Channels 1.1.8 run this same file)."""

from channels import Group

BROADCAST_GROUP = "bench-broadcast"


def accept(message):
    message.reply_channel.send({"accept": True})


def echo(message):
    if message.get("text") is not None:
        message.reply_channel.send({"text": message["text"]})
    else:
        message.reply_channel.send({"bytes": message["bytes"]})


def broadcast_connect(message):
    Group(BROADCAST_GROUP).add(message.reply_channel)
    message.reply_channel.send({"accept": True})


def broadcast_disconnect(message):
    Group(BROADCAST_GROUP).discard(message.reply_channel)

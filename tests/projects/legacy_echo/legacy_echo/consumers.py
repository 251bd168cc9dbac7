"""Channels 1 consumers: accept and echo, reject with 403, and a group chat that broadcasts every message."""

from channels import Group


def echo_connect(message):
    message.reply_channel.send({"accept": True})


def echo(message):
    if message.get("text") is not None:
        message.reply_channel.send({"text": message["text"]})
    else:
        message.reply_channel.send({"bytes": message["bytes"]})


def reject(message):
    message.reply_channel.send({"accept": False})


def group_join(message, name):
    Group("room-" + name).add(message.reply_channel)
    message.reply_channel.send({"accept": True})


def group_say(message, name):
    Group("room-" + name).send({"text": message["text"]})


def group_leave(message, name):
    Group("room-" + name).discard(message.reply_channel)

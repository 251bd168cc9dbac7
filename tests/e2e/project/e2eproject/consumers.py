"""Consumers of every kind the end-to-end tests exercise (Channels 1.1.8 API only)."""

import json
import os
import time

from channels import Channel
from channels.exceptions import ConsumeLater
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer
from channels.sessions import channel_and_http_session, enforce_ordering


def echo_receive(message):
    if message["text"].startswith("slow:"):
        time.sleep(0.1)
    message.reply_channel.send({"text": json.dumps({"echo": message["text"], "pid": os.getpid()})})


def job_receive(message):
    # Hand the work to another channel, served by a separate worker pool (--only-channels slow.*).
    Channel("slow.jobs").send({"reply_channel": message.reply_channel.name, "text": message["text"]})


def slow_job(message):
    message.reply_channel.send({"text": json.dumps({"job": message["text"], "pid": os.getpid()})})


def later_receive(message):
    # The first delivery is put back; the message comes round again with __retries__ set.
    if not message.get("__retries__"):
        raise ConsumeLater()
    message.reply_channel.send({"text": json.dumps({"later": message["text"], "retries": message["__retries__"]})})


@enforce_ordering
def ordered_connect(message):
    message.channel_session["seen"] = []
    message.reply_channel.send({"accept": True})


@enforce_ordering
def ordered_receive(message):
    seen = message.channel_session["seen"] + [message["text"]]
    message.channel_session["seen"] = seen
    message.reply_channel.send({"text": json.dumps(seen)})


@channel_and_http_session
def session_connect(message):
    message.reply_channel.send({"accept": True})


@channel_and_http_session
def session_receive(message):
    value = message.http_session.get("value") if message.http_session is not None else None
    message.reply_channel.send({"text": json.dumps({"value": value, "pid": os.getpid()})})


class Counter(JsonWebsocketConsumer):
    """A generic JSON consumer keeping a per-socket count in the channel session."""

    channel_session = True

    def connect(self, message, **kwargs):
        message.channel_session["count"] = 0
        self.message.reply_channel.send({"accept": True})

    def receive(self, content, **kwargs):
        self.message.channel_session["count"] += 1
        self.send({"count": self.message.channel_session["count"], "echo": content, "pid": os.getpid()})


class EchoStream(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send({"echo": content})


class UpperStream(JsonWebsocketConsumer):
    def receive(self, content, multiplexer=None, **kwargs):
        multiplexer.send({"upper": content["text"].upper()})


class Demultiplexer(WebsocketDemultiplexer):
    consumers = {"echo": EchoStream, "upper": UpperStream}

"""Consumers that say which process served them and what they saw of the client."""

import json
import os

from channels import Channel


def whoami_connect(message):
    message.reply_channel.send({"accept": True})
    headers = {
        bytes(name).decode("latin-1"): bytes(value).decode("latin-1")
        for name, value in message.content.get("headers", [])
    }
    message.reply_channel.send(
        {
            "text": json.dumps(
                {
                    "client": message.content.get("client"),
                    "scheme": message.content.get("scheme"),
                    "x_forwarded_proto": headers.get("x-forwarded-proto"),
                    "pid": os.getpid(),
                }
            )
        }
    )


def echo_receive(message):
    message.reply_channel.send({"text": json.dumps({"echo": message["text"], "pid": os.getpid()})})


def job_receive(message):
    # Handed to another channel, which only the background pool (--only-channels reports.*) consumes.
    Channel("reports.render").send({"reply_channel": message.reply_channel.name, "text": message["text"]})


def background_job(message):
    message.reply_channel.send({"text": json.dumps({"job": message["text"], "pid": os.getpid()})})

"""Consumers and routing for the runworker integration tests (Redis layer, real processes).

Each consumer reports to a channel named in the message (``to``), so a test can wait for it.
"""

import os
import time

from worker.channel import Channel
from worker.routing import route


def echo(message):
    Channel(message["to"]).send({"echo": message["n"], "pid": os.getpid()})


def slow(message):
    # "started" goes out at once so the test knows the message is in flight; "done" is buffered
    # until the consumer returns, so it proves the buffer was flushed on a graceful stop.
    Channel(message["to"]).send({"started": message["n"]}, immediately=True)
    time.sleep(message["seconds"])
    Channel(message["to"]).send({"done": message["n"]})


def burst(message):
    for i in range(message["count"]):
        Channel("full.target").send({"i": i})
    Channel(message["to"]).send({"after_full": True})


def fail(message):
    raise RuntimeError("consumer failure for the test")


channel_routing = [
    route("work.echo", echo),
    route("work.slow", slow),
    route("work.burst", burst),
    route("work.fail", fail),
]

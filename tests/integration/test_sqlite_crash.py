"""Crash safety of the SQLite layer: senders and receivers SIGKILLed at random points under load.

Senders log every send that returned (its acknowledgement) and receivers every message they got,
each line fsync'd before the next call. Delivery is at most once, so a receiver killed between its
pop and its log line may take one message with it; nothing else may be missing, nothing may be
received twice, and the file must be intact.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from channellayer.sqlite import SQLiteChannelLayer

SPAWN = multiprocessing.get_context("spawn")
CHANNELS = ["crash.work", "crash.g1", "crash.g2"]


def _log(fd: int, lines: list[str]) -> None:
    os.write(fd, "".join(line + "\n" for line in lines).encode())
    os.fsync(fd)


def _sender(path: str, log: str, name: str) -> None:
    """Send forever: single sends, batches of 5 and group sends (2 members), logging each acknowledgement."""
    layer = SQLiteChannelLayer(path=path, capacity=1_000_000)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    number = 0
    while True:
        number += 1
        kind = number % 3
        if kind == 0:
            layer.send("crash.work", {"id": f"{name}-{number}"})
            _log(fd, [f"crash.work {name}-{number}"])
        elif kind == 1:
            ids = [f"{name}-{number}.{part}" for part in range(5)]
            assert all(layer.send_many([("crash.work", {"id": i}) for i in ids]))
            _log(fd, [f"crash.work {i}" for i in ids])
        else:
            assert layer.send_group("crash.room", {"id": f"{name}-{number}"}) == 2
            _log(fd, [f"crash.g1 {name}-{number}", f"crash.g2 {name}-{number}"])


def _receiver(path: str, log: str, use_async: bool) -> None:
    """Receive forever (blocking, or receive_async), logging each message before asking for the next."""
    layer = SQLiteChannelLayer(path=path, blocking_timeout=0.5)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def loop() -> None:
        while True:
            channel, message = await layer.receive_async(CHANNELS)
            if message is not None:
                _log(fd, [f"{channel} {message['id']}"])

    if use_async:
        asyncio.run(loop())
    while True:
        channel, message = layer.receive(CHANNELS, block=True)
        if message is not None:
            _log(fd, [f"{channel} {message['id']}"])


def _lines(path: Path) -> list[str]:
    """Complete lines of a log (a line cut short by SIGKILL was never acknowledged)."""
    text = path.read_text() if path.exists() else ""
    return [line for line in text.split("\n")[:-1] if line]


def _start(target: Any, *args: Any) -> Any:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)


@pytest.mark.slow
def test_sigkilled_senders_and_receivers_lose_nothing_acknowledged(tmp_path: Path) -> None:
    """Under random SIGKILLs every acknowledged message is received once (≤ 1 lost per killed receiver)."""
    path = str(tmp_path / "layer.sqlite3")
    acks, received = tmp_path / "acks.log", tmp_path / "received.log"
    layer = SQLiteChannelLayer(path=path)
    layer.group_add("crash.room", "crash.g1")
    layer.group_add("crash.room", "crash.g2")
    rng = random.Random(13)
    generation = 0

    def sender() -> Any:
        nonlocal generation
        generation += 1
        return _start(_sender, path, str(acks), f"s{generation}")

    senders = [sender() for _ in range(3)]
    receivers = [_start(_receiver, path, str(received), use_async) for use_async in (False, True, False, True)]
    time.sleep(2)  # every child imported and running
    kills = Counter[str]()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 0.3))
        if rng.random() < 0.6:
            index = rng.randrange(len(senders))
            _kill(senders[index])
            senders[index] = sender()
            kills["sender"] += 1
        else:
            index = rng.randrange(len(receivers))
            _kill(receivers[index])
            receivers[index] = _start(_receiver, path, str(received), index % 2 == 1)
            kills["receiver"] += 1
    for process in senders:
        _kill(process)
    drained = time.monotonic() + 30
    while layer.channel_statistics("crash.work")["messages_pending"] or any(
        layer.channel_statistics(c)["messages_pending"] for c in ("crash.g1", "crash.g2")
    ):
        assert time.monotonic() < drained, "the receivers did not drain the channels"
        time.sleep(0.2)
    time.sleep(0.3)  # the last log lines
    for process in receivers:
        _kill(process)

    acknowledged = _lines(acks)
    got = _lines(received)
    duplicates = [line for line, count in Counter(got).items() if count > 1]
    missing = set(acknowledged) - set(got)
    print(f"{len(acknowledged)} acknowledged, {len(got)} received, kills {dict(kills)}, missing {len(missing)}")
    assert len(acknowledged) > 500 and kills["sender"] >= 5 and kills["receiver"] >= 3  # the test did load and kill
    assert duplicates == []
    assert len(missing) <= kills["receiver"], sorted(missing)
    # Nothing half-written: the file is intact, a group send reached both lists or neither (beyond the
    # one message a killed receiver may take), and nothing is left in the file.
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    groups = Counter(line.split(" ", 1)[1] for line in got if not line.startswith("crash.work"))
    assert sum(1 for count in groups.values() if count != 2) <= kills["receiver"]
    layer.close()

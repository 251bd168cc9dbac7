"""The SQLite layer under a write flood: nobody starves into ``database is locked``.

SQLite's own busy handler sleeps up to 100 ms between tries, so with several processes writing
back to back a waiter could miss every free moment until its timeout; the layer polls instead.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from channellayer import BackendUnavailable
from channellayer.sqlite import SQLiteChannelLayer

SPAWN = multiprocessing.get_context("spawn")
SECONDS = 6.0


class Impatient(SQLiteChannelLayer):
    """Gives up on the lock after 1 s, so starvation shows within the test's seconds."""

    busy_timeout = 1.0


def _flood(path: str, role: str, results: Any) -> None:
    """Send (or receive) back to back for SECONDS; report how many calls succeeded and which failed."""
    layer = Impatient(path=path, capacity=1_000_000, blocking_timeout=0.2)
    payload = os.urandom(1024)
    done, failures = 0, []
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            if role == "send":
                layer.send("flood", {"payload": payload})
                done += 1
            elif layer.receive(["flood"], block=True)[1] is not None:
                done += 1
        except BackendUnavailable as exc:
            failures.append(f"{time.monotonic() - started:.2f} s: {exc}")
    results.put((role, done, failures))
    layer.close()


@pytest.mark.slow
def test_three_senders_and_three_receivers_flooding_one_file_all_progress_without_lock_errors(tmp_path: Path) -> None:
    """6 processes writing back to back for 6 s: no call gives up on the lock, every sender gets a fair share."""
    path = str(tmp_path / "layer.sqlite3")
    Impatient(path=path).close()
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_flood, args=(path, role, results), daemon=True) for role in ("send", "receive") * 3
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(10)
    print([(role, done, len(failures)) for role, done, failures in reports])
    assert [failure for _, _, failures in reports for failure in failures] == []
    sent = [done for role, done, _ in reports if role == "send"]
    received = [done for role, done, _ in reports if role == "receive"]
    assert min(sent) >= 0.2 * max(sent), sent  # no sender starved
    assert all(count > 0 for count in received), received

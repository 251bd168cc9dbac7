"""The SQLite layer's file on disk: bounded after a soak, and clear errors on a read-only or full disk.

The read-only and full-disk tests mount a read-only bind and a 1 MiB tmpfs (the tests run as root,
so file modes alone would not stop a write); they are unmounted at the end.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channellayer import BackendUnavailable
from channellayer.sqlite import SQLiteChannelLayer

SPAWN = multiprocessing.get_context("spawn")


class Soaking(SQLiteChannelLayer):
    """Short lifetimes, so a soak of seconds ends with everything expired: upkeep each second."""

    upkeep_interval = 1.0
    stats_expiry = 3.0


def _soak_layer(path: str) -> Soaking:
    return Soaking(path=path, expiry=2, group_expiry=3, capacity=1_000_000, blocking_timeout=0.5)


def _soak_sender(path: str, name: str) -> None:
    """Load: 2 KiB messages to a read channel, messages nobody reads on new channels, group churn."""
    layer = _soak_layer(path)
    payload = os.urandom(2048)
    number = 0
    while True:
        number += 1
        time.sleep(0.001)  # about 800 sends a second each: a busy site, not a flood
        layer.send("soak.work", {"n": number, "payload": payload})
        if number % 10 == 0:
            layer.send(f"soak.unread{name}x{number}", {"payload": payload})  # expires unread; a new counter row
            layer.group_add("soak.room", f"soak.member{name}x{number}")
        if number % 50 == 0:
            layer.send_group("soak.room", {"n": number})


def _soak_receiver(path: str) -> None:
    layer = _soak_layer(path)
    while True:
        layer.receive(["soak.work"], block=True)


def _sizes(path: str) -> tuple[int, int]:
    wal = path + "-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


def _rows(path: str) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("messages", "groups", "stats", "waiters")
        }


@pytest.mark.slow
def test_after_a_soak_and_idle_time_the_file_and_wal_return_near_baseline(tmp_path: Path) -> None:
    """10 s of load from 4 processes grows the file; 10 s idle later, file and WAL are back near baseline."""
    path = str(tmp_path / "layer.sqlite3")
    layer = _soak_layer(path)
    layer.send("soak.work", {"n": 0})
    layer.receive(["soak.work"])
    layer._store.upkeep()
    baseline = _sizes(path)
    senders = [SPAWN.Process(target=_soak_sender, args=(path, name), daemon=True) for name in "ab"]
    receivers = [SPAWN.Process(target=_soak_receiver, args=(path,), daemon=True) for _ in range(2)]
    for process in receivers + senders:
        process.start()
    peak = (0, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = _sizes(path)
        peak = (max(peak[0], current[0]), max(peak[1], current[1]))
    loaded = _rows(path)
    for process in senders:
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join(5)
    time.sleep(10)  # expiry 2 s, group_expiry 3 s, counters 3 s; the receivers time out and do upkeep
    final = _sizes(path)
    rows = _rows(path)
    for process in receivers:
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join(5)
    print(f"baseline {baseline}, peak {peak}, final {final} (file, WAL bytes); rows loaded {loaded}, final {rows}")
    assert peak[0] > 1_000_000 and loaded["stats"] > 100 and loaded["groups"] > 50  # the load did grow it
    assert peak[1] < 32 * 1024 * 1024  # the WAL stays bounded under load (auto-checkpoint, size limit)
    assert rows == {"messages": 0, "groups": 0, "stats": 1, "waiters": 2}  # the global counter; 2 live receivers
    assert final[0] <= baseline[0] + 64 * 1024 and final[1] == 0, (baseline, final)
    layer.close()


# -- read-only and full disks -------------------------------------------------------------


def _mount(*argv: str) -> None:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root and mount permission")


@contextlib.contextmanager
def _mounted(target: Path, *argv: str) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    _mount(*argv, str(target))
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def test_a_read_only_directory_raises_backend_unavailable_naming_the_path(tmp_path: Path) -> None:
    """An existing layer file on a read-only mount fails at once: BackendUnavailable naming the path and why."""
    source = tmp_path / "data"
    source.mkdir()
    SQLiteChannelLayer(path=str(source / "layer.sqlite3")).close()
    with _mounted(tmp_path / "ro", "--bind", str(source)) as target:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as caught:
            SQLiteChannelLayer(path=str(target / "layer.sqlite3"))
        assert time.monotonic() - started < 2
    message = str(caught.value)
    print(message)
    assert f"cannot open the SQLite channel layer at '{target / 'layer.sqlite3'}'" in message
    assert "read-only" in message


def test_a_full_disk_raises_naming_the_path_and_the_layer_recovers_when_there_is_room(tmp_path: Path) -> None:
    """On a full 1 MiB tmpfs a send fails at once naming the path; freeing space, everything acknowledged arrives."""
    with _mounted(tmp_path / "tiny", "-t", "tmpfs", "-o", "size=1m", "tmpfs") as disk:
        layer = SQLiteChannelLayer(path=str(disk / "layer.sqlite3"), capacity=1000)
        filler = disk / "filler"
        filler.write_bytes(b"x" * 600_000)
        acknowledged: list[int] = []
        with pytest.raises(BackendUnavailable) as caught:
            for number in range(100):
                started = time.monotonic()
                layer.send("big", {"n": number, "payload": os.urandom(20_000)})
                acknowledged.append(number)
        assert time.monotonic() - started < 2  # an error, not a wait
        message = str(caught.value)
        print(message)
        assert f"SQLite channel layer at '{disk / 'layer.sqlite3'}': database or disk is full" in message
        assert "works again as soon as there is room" in message
        assert 0 < len(acknowledged) < 100
        filler.unlink()
        layer.send("big", {"n": "after", "payload": b""})
        got: list[Any] = []
        while (message_received := layer.receive(["big"])[1]) is not None:
            got.append(message_received["n"])
        assert got == [*acknowledged, "after"]
        layer.close()

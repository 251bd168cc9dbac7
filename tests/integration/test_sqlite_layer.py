"""SQLiteChannelLayer with real processes sharing one file: delivery, groups, capacity, wake-ups, idle CPU."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sqlite3
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from channellayer import BackendUnavailable, ChannelFull, get_channel_layer
from channellayer.sqlite import SQLiteChannelLayer

SPAWN = multiprocessing.get_context("spawn")


def _layer(path: str, **options: Any) -> SQLiteChannelLayer:
    layer = get_channel_layer("sqlite", {"path": path, **options})
    assert isinstance(layer, SQLiteChannelLayer)
    return layer


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc (the comm field may contain spaces, so split after ')')."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _join(*processes: multiprocessing.process.BaseProcess, timeout: float = 60) -> None:
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
            process.join(5)
        assert process.exitcode == 0, f"child {process.pid} exited with {process.exitcode}"


# -- child processes (module-level so the spawn start method can import them) ---------------


def _produce(path: str, producer: int, count: int) -> None:
    layer = _layer(path, capacity=10_000)
    for number in range(count):
        layer.send("work.a" if number % 2 else "work.b", {"id": f"{producer}-{number}"})
    layer.close()


def _consume(path: str, threads: int, results: Any) -> None:
    layer = _layer(path, capacity=10_000, blocking_timeout=1)

    def run() -> None:
        seen = []
        while True:
            channel, message = layer.receive(["work.a", "work.b"], block=True)
            if message is None:
                continue
            if message.get("stop"):
                break
            seen.append(message["id"])
        results.put(seen)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    layer.close()


def _echo(path: str, count: int, use_async: bool) -> None:
    """Receive ``count`` messages on the process list ``echo!`` and answer each on its reply channel."""
    layer = _layer(path, blocking_timeout=0.5)

    async def receive_async() -> tuple[Any, Any]:
        return await layer.receive_async(["echo!"])

    answered = 0
    while answered < count:
        if use_async:
            channel, message = asyncio.run(receive_async())
        else:
            channel, message = layer.receive(["echo!"], block=True)
        if message is None:
            continue
        latency = time.time() - message.get("sent_at", time.time())
        layer.send(message["reply_channel"], {"to": channel, "body": message["body"], "latency": latency})
        answered += 1
    layer.close()


def _group_sender(path: str, group: str) -> None:
    layer = _layer(path)
    members = layer.group_channels(group)
    count = layer.send_group(group, {"text": "hello"})
    layer.send("report", {"members": members, "count": count})
    layer.close()


def _fill(path: str, channel: str, count: int) -> None:
    layer = _layer(path, capacity=5)
    for number in range(count):
        layer.send(channel, {"n": number})
    layer.close()


def _block_forever(path: str, ready: Any, use_async: bool, timeout: float = 0.5) -> None:
    layer = _layer(path, blocking_timeout=timeout)
    ready.set()
    while True:
        if use_async:
            asyncio.run(layer.receive_async(["idle"]))
        else:
            layer.receive(["idle"], block=True)


def _open_together(path: str, barrier: Any) -> None:
    barrier.wait()
    layer = _layer(path)
    layer.send("opened", {"pid": os.getpid()})
    layer.close()


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_many_producers_and_threaded_consumers_receive_every_message_exactly_once(tmp_path: Path) -> None:
    """3 producer processes and 3 consumer processes of 2 threads each: every message is received exactly once."""
    path = str(tmp_path / "layer.sqlite3")
    producers, consumers, threads, count = 3, 3, 2, 300
    results = SPAWN.Queue()
    consuming = [_start(_consume, path, threads, results) for _ in range(consumers)]
    producing = [_start(_produce, path, number, count) for number in range(producers)]
    _join(*producing)
    layer = _layer(path, capacity=10_000)
    for _ in range(consumers * threads):
        layer.send("work.a", {"stop": True})  # sent last, so popped only after every real message
    received = [item for _ in range(consumers * threads) for item in results.get(timeout=60)]
    _join(*consuming)
    expected = {f"{producer}-{number}" for producer in range(producers) for number in range(count)}
    duplicates = [item for item, seen in Counter(received).items() if seen > 1]
    assert duplicates == []
    assert set(received) == expected
    assert layer.global_statistics()["messages_count"] == producers * count + consumers * threads
    layer.close()


def test_processes_starting_together_on_a_fresh_file_all_open_it(tmp_path: Path) -> None:
    """Eight processes opening a new file at the same instant all succeed (the switch to WAL is retried)."""
    for attempt in range(2):  # the race is not lost every time; two fresh files make a miss unlikely
        path = str(tmp_path / f"fresh{attempt}.sqlite3")
        barrier = SPAWN.Barrier(8)
        _join(*[_start(_open_together, path, barrier) for _ in range(8)])
        layer = _layer(path)
        assert layer.channel_statistics("opened")["messages_pending"] == 8
        layer.close()


def test_process_specific_channels_route_by_prefix_across_processes(tmp_path: Path) -> None:
    """Messages to ``echo!<local>`` reach the process reading ``echo!``; its replies reach ``parent!<local>``."""
    path = str(tmp_path / "layer.sqlite3")
    child = _start(_echo, path, 3, False)
    layer = _layer(path)
    for number in range(3):
        layer.send(f"echo!conn{number}", {"reply_channel": f"parent!r{number}", "body": number})
    replies = sorted((layer.receive(["parent!"], block=True) for _ in range(3)), key=lambda r: str(r[0]))
    _join(child)
    assert [(channel, message["to"], message["body"]) for channel, message in replies] == [
        ("parent!r0", "echo!conn0", 0),
        ("parent!r1", "echo!conn1", 1),
        ("parent!r2", "echo!conn2", 2),
    ]
    layer.close()


def test_groups_are_shared_between_processes(tmp_path: Path) -> None:
    """Members added in one process get a group send made by another; a discarded member gets nothing."""
    path = str(tmp_path / "layer.sqlite3")
    layer = _layer(path)
    for channel in ("sockets!a", "sockets!b", "plain", "gone"):
        layer.group_add("room", channel)
    layer.group_discard("room", "gone")
    _join(_start(_group_sender, path, "room"))
    _, report = layer.receive(["report"])
    assert report == {"members": ["sockets!a", "sockets!b", "plain"], "count": 3}
    got = {layer.receive(["sockets!"])[0], layer.receive(["sockets!"])[0], layer.receive(["plain"])[0]}
    assert got == {"sockets!a", "sockets!b", "plain"}
    assert layer.receive(["gone", "sockets!", "plain"]) == (None, None)
    layer.close()


def test_capacity_filled_by_another_process_raises_channel_full(tmp_path: Path) -> None:
    """A channel filled to capacity by one process refuses the next send from another with ChannelFull."""
    path = str(tmp_path / "layer.sqlite3")
    _join(_start(_fill, path, "jobs", 5))
    layer = _layer(path, capacity=5)
    with pytest.raises(ChannelFull, match="'jobs' is at its capacity of 5"):
        layer.send("jobs", {"n": 5})
    assert layer.send_many([("jobs", {"n": 6}), ("other", {"n": 7})]) == [False, True]
    assert layer.receive(["jobs"]) == ("jobs", {"n": 0})
    layer.send("jobs", {"n": 8})  # room again after one receive
    assert layer.channel_statistics("jobs")["channel_full_count"] == 2
    layer.close()


@pytest.mark.parametrize("use_async", [False, True], ids=["receive", "receive_async"])
def test_blocked_receiver_in_another_process_wakes_within_milliseconds(tmp_path: Path, use_async: bool) -> None:
    """A receiver blocked in another process gets each of 20 sends with a median latency under 50 ms."""
    path = str(tmp_path / "layer.sqlite3")
    sends = 20
    child = _start(_echo, path, sends + 1, use_async)
    layer = _layer(path, blocking_timeout=10)
    layer.send("echo!warmup", {"reply_channel": "parent!w", "body": -1})  # waits out the child's start-up
    assert layer.receive(["parent!"], block=True)[0] == "parent!w"
    latencies = []
    for number in range(sends):
        time.sleep(0.03)  # let the child go back to sleep on its socket
        layer.send("echo!x", {"reply_channel": "parent!x", "body": number, "sent_at": time.time()})
        channel, reply = layer.receive(["parent!"], block=True)
        assert reply is not None and reply["body"] == number
        latencies.append(reply["latency"])
    _join(child)
    print(
        f"wake-up latency ({'async' if use_async else 'sync'}): median {statistics.median(latencies) * 1000:.2f} ms,"
        f" max {max(latencies) * 1000:.2f} ms"
    )
    assert statistics.median(latencies) < 0.05
    assert max(latencies) < 0.5  # far below the 10 s blocking timeout: woken, not timed out
    layer.close()


@pytest.mark.parametrize("use_async", [False, True], ids=["receive", "receive_async"])
def test_blocked_receiver_uses_almost_no_cpu_when_idle(tmp_path: Path, use_async: bool) -> None:
    """A process blocked in receive (timing out every 0.5 s) uses under 50 ms of CPU over 2 s of idleness."""
    path = str(tmp_path / "layer.sqlite3")
    ready = SPAWN.Event()
    child = _start(_block_forever, path, ready, use_async)
    try:
        assert ready.wait(30)
        time.sleep(0.3)  # past the first receive's set-up
        before = _cpu_seconds(child.pid)  # type: ignore[arg-type]
        time.sleep(2)
        used = _cpu_seconds(child.pid) - before  # type: ignore[arg-type]
    finally:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(5)
    print(f"idle CPU over 2 s ({'async' if use_async else 'sync'}): {used * 1000:.0f} ms")
    assert used < 0.05


def test_a_killed_waiter_is_cleaned_up_and_messages_still_flow(tmp_path: Path) -> None:
    """A receiver killed while blocked leaves a waiter row that the next send deletes; delivery is unaffected."""
    path = str(tmp_path / "layer.sqlite3")
    ready = SPAWN.Event()
    child = _start(_block_forever, path, ready, False, 60.0)  # one long wait: its row never changes
    assert ready.wait(30)
    db = sqlite3.connect(path)
    deadline = time.monotonic() + 10
    while not db.execute("SELECT count(*) FROM waiters").fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    (address,) = db.execute("SELECT address FROM waiters").fetchone()
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(5)
    layer = _layer(path)
    layer.send("idle", {"after": "death"})
    assert db.execute("SELECT count(*) FROM waiters").fetchone()[0] == 0
    assert not os.path.exists(address)
    assert layer.receive(["idle"]) == ("idle", {"after": "death"})
    db.close()
    layer.close()


def test_wakeups_work_when_the_path_is_too_long_for_a_socket_address(tmp_path: Path) -> None:
    """With a database path too long for sun_path, wake-up sockets live in a temp directory and still wake."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    layer = _layer(str(deep / "layer.sqlite3"), blocking_timeout=10)
    threading.Timer(0.2, layer.send, args=("late", {"ok": True})).start()
    started = time.monotonic()
    assert layer.receive(["late"], block=True) == ("late", {"ok": True})
    assert time.monotonic() - started < 2
    assert not (deep / "layer.sqlite3.wake").exists()
    layer.close()


def test_unusable_paths_raise_backend_unavailable(tmp_path: Path) -> None:
    """A path under a regular file, or a file that is not a database, raises BackendUnavailable naming the path."""
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    with pytest.raises(BackendUnavailable, match="cannot open the SQLite channel layer at .*plain-file/layer"):
        _layer(str(not_a_dir / "layer.sqlite3"))
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(BackendUnavailable, match="file is not a database"):
        _layer(str(garbage))


def test_a_database_locked_past_the_busy_timeout_raises_then_recovers(tmp_path: Path) -> None:
    """A write lock held by another connection past busy_timeout raises BackendUnavailable; then it works again."""

    class Impatient(SQLiteChannelLayer):
        busy_timeout = 0.2

    path = str(tmp_path / "layer.sqlite3")
    layer = Impatient(path=path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(BackendUnavailable, match="database is locked"):
        layer.send("c", {"n": 1})
    with pytest.raises(BackendUnavailable, match="database is locked"):
        layer.receive(["c"])
    holder.execute("ROLLBACK")
    holder.close()
    layer.send("c", {"n": 2})
    assert layer.receive(["c"]) == ("c", {"n": 2})
    layer.close()

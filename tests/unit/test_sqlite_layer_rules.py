"""SQLiteChannelLayer in one process: configuration errors, expiry and its sweep, the group-send rule, async receive."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channellayer import BackendUnavailable, ChannelFull, get_channel_layer
from channellayer.sqlite import SQLiteChannelLayer


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "layer.sqlite3")


@pytest.fixture
def make(path: str) -> Iterator[Any]:
    made: list[SQLiteChannelLayer] = []

    def factory(**options: Any) -> SQLiteChannelLayer:
        layer = SQLiteChannelLayer(path=path, **options)
        made.append(layer)
        return layer

    yield factory
    for layer in made:
        layer.close()


def _rows(path: str, table: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return count


# -- configuration ---------------------------------------------------------------------------


def test_missing_path_is_a_type_error_naming_the_option() -> None:
    """Leaving out ``path`` raises TypeError that names the 'path' option."""
    with pytest.raises(TypeError, match="needs the 'path' option"):
        get_channel_layer("sqlite", {})


@pytest.mark.parametrize("bad", [123, b"/tmp/x.sqlite3", ["x"]])
def test_path_of_the_wrong_type_is_a_type_error(bad: object) -> None:
    """A ``path`` that is not a str or str PathLike raises TypeError naming 'path' and the type."""
    with pytest.raises(TypeError, match=f"path must be a str or os.PathLike naming a file, not {type(bad).__name__}"):
        SQLiteChannelLayer(path=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", ":memory:", "file:x.sqlite3?mode=memory"])
def test_paths_other_processes_cannot_open_are_value_errors(bad: str) -> None:
    """Empty, in-memory and URI paths raise ValueError quoting the path."""
    with pytest.raises(ValueError, match=f"path must name a database file .*not {re.escape(repr(bad))}"):
        SQLiteChannelLayer(path=bad)


def test_a_directory_path_is_a_value_error(tmp_path: Path) -> None:
    """A ``path`` naming a directory raises ValueError saying so."""
    with pytest.raises(ValueError, match="is a directory; name a database file inside it"):
        SQLiteChannelLayer(path=tmp_path)


def test_misspelt_option_and_bad_base_option_are_named(path: str) -> None:
    """An unknown option suggests 'path'; a bad base option (expiry=0) raises ValueError naming it."""
    with pytest.raises(TypeError, match="has no option 'paht'; did you mean 'path'"):
        get_channel_layer("sqlite", {"paht": path})
    with pytest.raises(ValueError, match="expiry must be a positive integer, not 0"):
        get_channel_layer("sqlite", {"path": path, "expiry": 0})


def test_pathlike_and_legacy_ipc_alias_are_accepted(tmp_path: Path) -> None:
    """A pathlib.Path works, and the asgi_ipc alias builds an SQLite layer on a file named after its prefix."""
    layer = SQLiteChannelLayer(path=tmp_path / "p.sqlite3")
    layer.send("c", {"n": 1})
    assert layer.receive(["c"]) == ("c", {"n": 1})
    layer.close()
    legacy = get_channel_layer("asgi_ipc.IPCChannelLayer", {"prefix": f"unit-{time.time_ns()}"})
    assert isinstance(legacy, SQLiteChannelLayer)
    legacy.close()
    Path(legacy.path).unlink()


# -- expiry ----------------------------------------------------------------------------------


def test_expired_messages_are_not_received_and_the_sweep_deletes_them(make: Any, path: str) -> None:
    """With expiry=1 a message is gone after a second, and the next writer's sweep deletes its row."""
    layer = make(expiry=1)
    layer.send("old", {"n": 1})
    layer.send("old!x", {"n": 2})
    time.sleep(1.1)
    assert layer.receive(["old", "old!"]) == (None, None)
    assert layer.channel_statistics("old") == {"messages_count": 1, "channel_full_count": 0, "messages_pending": 0}
    assert _rows(path, "messages") == 2  # invisible, but this process swept less than 5 s ago
    make().send("fresh", {"n": 3})  # a new layer sweeps on its first write
    assert _rows(path, "messages") == 1


def test_expired_messages_do_not_count_against_capacity(make: Any) -> None:
    """A channel full of expired messages accepts new ones."""
    layer = make(expiry=1, capacity=2)
    layer.send("c", {"n": 1})
    layer.send("c", {"n": 2})
    with pytest.raises(ChannelFull):
        layer.send("c", {"n": 3})
    time.sleep(1.1)
    layer.send("c", {"n": 4})
    assert layer.receive(["c"]) == ("c", {"n": 4})


def test_group_memberships_expire_after_group_expiry(make: Any, path: str) -> None:
    """With group_expiry=1 a member is dropped after a second, from the group and (on sweep) from the file."""
    layer = make(group_expiry=1)
    layer.group_add("g", "a")
    assert layer.group_channels("g") == ["a"]
    time.sleep(1.1)
    assert layer.group_channels("g") == []
    assert layer.send_group("g", {"n": 1}) == 0
    make(group_expiry=1).send("x", {})
    assert _rows(path, "groups") == 0


# -- groups, capacity, names -----------------------------------------------------------------


def test_group_send_fills_a_list_below_capacity_and_skips_a_full_one(make: Any) -> None:
    """A list with room gets all of a group send's copies (past capacity); a full list gets none."""
    layer = make(capacity=3)
    for local in ("a", "b", "c", "d"):
        layer.group_add("room", f"srv!{local}")
    layer.send("srv!z", {"n": 0})
    assert layer.send_group("room", {"n": 1}) == 4  # 1 entry < 3: all four copies, the list holds 5
    assert layer.send_group("room", {"n": 2}) == 0
    assert layer.channel_statistics("srv!")["messages_pending"] == 5
    assert layer.global_statistics() == {"messages_count": 5, "channel_full_count": 1}


def test_new_channel_skips_names_that_hold_messages(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """new_channel never returns a name that already has a message waiting."""
    layer = make()
    layer.new_channel_length = 1
    letters = iter("aab")
    monkeypatch.setattr("channellayer.base.random.choices", lambda population, k: [next(letters)])
    layer.send("reply?a", {"n": 1})
    assert layer.new_channel("reply?") == "reply?b"


def test_receive_takes_the_oldest_message_over_all_channels(make: Any) -> None:
    """Receiving on several channels returns their messages oldest first (no channel starves)."""
    layer = make()
    for channel, number in [("b", 1), ("a", 2), ("b", 3), ("c", 4)]:
        layer.send(channel, {"n": number})
    got = [layer.receive(["a", "b", "c"])[1]["n"] for _ in range(4)]
    assert got == [1, 2, 3, 4]


def test_flush_empties_messages_groups_and_counters(make: Any, path: str) -> None:
    """flush deletes every message, membership and counter, and the layer keeps working."""
    layer = make()
    layer.send("c", {"n": 1})
    layer.group_add("g", "c")
    layer.flush()
    assert layer.receive(["c"]) == (None, None)
    assert layer.group_channels("g") == []
    assert layer.global_statistics() == {"messages_count": 0, "channel_full_count": 0}
    layer.send("c", {"n": 2})
    assert layer.receive(["c"]) == ("c", {"n": 2})


def test_channel_statistics_report_pending_and_max_age(make: Any) -> None:
    """channel_statistics counts live messages on a list and the age of its oldest one."""
    layer = make()
    layer.send("srv!a", {"n": 1})
    time.sleep(0.2)
    layer.send("srv!b", {"n": 2})
    stats = layer.channel_statistics("srv!")
    assert stats["messages_pending"] == 2 and stats["messages_count"] == 2
    assert 0.2 <= stats["messages_max_age"] < 5


# -- blocking and async receive --------------------------------------------------------------


def test_blocking_receive_times_out_and_keeps_one_waiter_until_close(make: Any, path: str) -> None:
    """A blocking receive times out with (None, None); its waiter is reused by the next one and removed by close."""
    layer = make(blocking_timeout=0.3)
    started = time.monotonic()
    assert layer.receive(["nothing"], block=True) == (None, None)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert _rows(path, "waiters") == 1
    assert layer.receive(["nothing"], block=True) == (None, None)
    assert _rows(path, "waiters") == 1  # the same socket and row, not a second one
    layer.close()
    assert _rows(path, "waiters") == 0


def test_receive_async_wakes_on_a_send_from_another_thread(make: Any) -> None:
    """receive_async returns a message sent from a thread while it waits, well before the timeout."""
    layer = make(blocking_timeout=10)

    async def scenario() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, lambda: loop.run_in_executor(None, layer.send, "late", {"n": 1}))
        started = time.monotonic()
        received = await layer.receive_async(["late"])
        return received, time.monotonic() - started

    received, elapsed = asyncio.run(scenario())
    assert received == ("late", {"n": 1})
    assert elapsed < 2


def test_cancelled_receive_async_loses_no_message_and_leaves_no_waiter(make: Any, path: str) -> None:
    """A cancelled waiting receive_async leaves one reusable waiter (none after close); a later message is kept."""
    layer = make(blocking_timeout=10)

    async def scenario() -> None:
        task = asyncio.ensure_future(layer.receive_async(["c"]))
        await asyncio.sleep(0.1)
        assert _rows(path, "waiters") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert _rows(path, "waiters") == 1
    layer.send("c", {"n": 1})
    assert layer.receive(["c"]) == ("c", {"n": 1})
    layer.close()
    assert _rows(path, "waiters") == 0


def test_receive_async_times_out_with_none(make: Any) -> None:
    """receive_async returns (None, None) after blocking_timeout when nothing arrives."""
    layer = make(blocking_timeout=0.2)
    assert asyncio.run(layer.receive_async(["nothing"])) == (None, None)


def test_an_unusable_wake_directory_raises_backend_unavailable() -> None:
    """A blocking receive that cannot make its wake-up socket raises BackendUnavailable naming the directory."""
    short = tempfile.mkdtemp(prefix="cl-")  # short enough that the wake directory sits beside the file
    try:
        Path(short, "layer.sqlite3.wake").write_text("not a directory")
        layer = SQLiteChannelLayer(path=os.path.join(short, "layer.sqlite3"), blocking_timeout=0.2)
        with pytest.raises(BackendUnavailable, match=r"cannot create a wake-up socket in .*layer\.sqlite3\.wake"):
            layer.receive(["c"], block=True)
        layer.send("c", {"n": 1})  # sending and non-blocking receives do not need the directory
        assert layer.receive(["c"], block=True) == ("c", {"n": 1})
        layer.close()
    finally:
        shutil.rmtree(short)


# -- never waiting on the event loop, upkeep -----------------------------------------------


def test_async_calls_under_a_held_write_lock_wait_off_the_loop(make: Any, path: str) -> None:
    """With the write lock held elsewhere, send_async and receive_async wait on the layer's thread: the loop ticks."""
    layer = make(blocking_timeout=5)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def scenario() -> tuple[list[float], Any]:
        loop = asyncio.get_running_loop()
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(loop.time())
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        sending = asyncio.ensure_future(layer.send_async("c", {"n": 1}))
        receiving = asyncio.ensure_future(layer.receive_async(["c"]))
        await asyncio.sleep(0.5)
        assert not sending.done() and not receiving.done()  # both wait for the lock...
        holder.execute("ROLLBACK")  # ...until it is released
        await sending
        received = await receiving
        ticking.cancel()
        return ticks, received

    ticks, received = asyncio.run(scenario())
    holder.close()
    assert received == ("c", {"n": 1})
    assert max(b - a for a, b in zip(ticks, ticks[1:], strict=False)) < 0.1  # the loop never stalled on SQLite


def test_upkeep_removes_dead_waiters_stale_counters_and_truncates_the_wal(tmp_path: Path) -> None:
    """Idle upkeep deletes the row and socket of a dead waiter, counters past stats_expiry, and empties the WAL."""

    class Quick(SQLiteChannelLayer):
        stats_expiry = 0.5

    path = str(tmp_path / "layer.sqlite3")
    layer = Quick(path=path)
    dead = layer._new_waiter()
    dead.sock.close()  # its process is gone: the file stays, nobody reads it
    layer._store.transaction(lambda c: c.execute("INSERT INTO waiters VALUES ('quiet', ?)", (dead.address,)))
    layer.send("counted", {"n": 1})
    layer.receive(["counted"])
    time.sleep(0.6)
    layer._store._next_sweep = 0.0  # the sweep is due (it runs at most every 5 s)
    layer._store.upkeep()
    assert _rows(path, "waiters") == 0 and not os.path.exists(dead.address)
    with sqlite3.connect(path) as db:
        assert [row[0] for row in db.execute("SELECT name FROM stats")] == ["#global#"]
    assert os.path.getsize(path + "-wal") == 0
    layer.close()

"""The asgi_redis 1.4.3 keyspace, pinned without Redis: key names, shard choice, receive plans, script arguments."""

from __future__ import annotations

import pytest

from channellayer.redis_keyspace import (
    CHANNEL_STATS_EXPIRY,
    GLOBAL_STATS_EXPIRY,
    Keyspace,
    Scripts,
    blocking_wait,
    check_prefix,
    consistent_hash,
    scan_pattern,
)


def keyspace(ring: int = 1) -> Keyspace:
    return Keyspace("asgi:", "asgi-meta:", ring, expiry=60, group_expiry=86400)


def test_send_call_matches_send_lua_and_asgi_redis_names() -> None:
    """send.lua gets KEYS message key, list, four counters (+ flow key) and ARGV payload, expiry, capacity, TTLs."""
    keys, args = keyspace().send_call("http.request", b"P", 100)
    assert keys[0].startswith("asgi:") and len(keys[0]) == len("asgi:") + 32
    assert keys[1:] == [
        "asgi:http.request",
        "asgi-meta:http.request:messages_count",
        "asgi-meta:http.request:channel_full_count",
        "asgi-meta:#global#:messages_count",
        "asgi-meta:#global#:channel_full_count",
    ]
    assert args == [b"P", 60, 100, CHANNEL_STATS_EXPIRY, GLOBAL_STATS_EXPIRY]
    keys, args = keyspace().send_call("daphne.response.X!", b"P", 4, flow_channel="daphne.response.X!c")
    assert keys[-1] == "asgi::flow:daphne.response.X!c"
    assert args[3] == 61  # counters of a per-process list live as long as a message


def test_message_keys_are_unique() -> None:
    """Every send names a fresh random message key."""
    space = keyspace()
    assert len({space.message_key() for _ in range(1000)}) == 1000


def test_hashed_names_go_to_their_shard_and_normal_ones_round_robin() -> None:
    """! ? and group names use asgi_redis's consistent hash; normal channels are sent round-robin."""
    space = keyspace(3)
    assert space.send_shard("daphne.response.A!") == consistent_hash("daphne.response.A!", 3)
    assert [space.send_shard("http.request") for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    assert space.batch_shard("q?abc") == consistent_hash("q?abc", 3)
    assert space.batch_shard("http.request") is None
    assert keyspace(1).batch_shard("http.request") == 0


def test_receive_plan_covers_every_shard_once_starting_at_a_rotating_one() -> None:
    """A normal channel is tried on every shard; a hashed one only on its own; the start shard rotates."""
    space = keyspace(3)
    own = consistent_hash("p!", 3)
    starts = []
    for _ in range(3):
        plan = space.receive_plan(["http.request", "p!"])
        starts.append(plan[0][0])
        assert sorted(index for index, _ in plan) == [0, 1, 2]
        for index, keys in plan:
            expected = {"asgi:http.request", "asgi:p!"} if index == own else {"asgi:http.request"}
            assert set(keys) == expected
    assert sorted(starts) == [0, 1, 2]
    assert space.receive_plan(["p!"]) == [(own, ["asgi:p!"])]


def test_group_calls_one_per_shard_with_capacity_and_counts() -> None:
    """group_send.lua gets, per shard, each list then one message key per payload, ARGV capacity, count, payloads."""
    space = keyspace(1)
    calls = space.group_calls({"a!": (100, [b"1", b"2"]), "b": (5, [b"3"])})
    assert list(calls) == [0]
    keys, args = calls[0]
    assert keys[0] == "asgi:a!" and keys[3] == "asgi:b" and len(keys) == 5
    assert args[:5] == [60, "asgi-meta:", len("asgi:"), CHANNEL_STATS_EXPIRY, GLOBAL_STATS_EXPIRY]
    assert args[5:] == [100, 2, b"1", b"2", 5, 1, b"3"]


def test_names_of_groups_flow_status_and_lists() -> None:
    """Group ZSETs, flow keys and status keys use '::' names no channel can take; list names round-trip."""
    space = keyspace()
    assert space.group_key("chat") == "asgi::group:chat"
    assert space.flow_key("x!y") == "asgi::flow:x!y"
    assert space.status_index() == "asgi::status" and space.status_key("worker:1") == "asgi::status:worker:1"
    assert space.list_name(b"asgi:http.request") == "http.request"
    assert space.group_expired_before(100_000.7) == 100_000 - 86400


def test_scan_pattern_escapes_glob_characters() -> None:
    """flush matches its prefix literally, even one holding * ? [ ] or a backslash."""
    assert scan_pattern("a*b?[c]\\") == "a[*]b[?][[]c[]][\\]*"


def test_check_prefix_and_blocking_wait() -> None:
    """Prefixes must be non-empty strings (without braces for the cluster); a pop waits under the socket timeout."""
    assert check_prefix("prefix", "asgi:") == "asgi:"
    with pytest.raises(ValueError, match="prefix must be a non-empty str, not ''"):
        check_prefix("prefix", "")
    with pytest.raises(ValueError, match="without '\\{' or '\\}'"):
        check_prefix("prefix", "a{b", forbidden="{}")
    assert blocking_wait(5, {"socket_timeout": 10}) == 5
    assert blocking_wait(5, {"socket_timeout": 2}) == pytest.approx(1.6)
    assert blocking_wait(5, {"socket_timeout": None}) == 5


def test_scripts_are_loaded_with_their_sha1() -> None:
    """Scripts reads each .lua once and names it by the SHA1 Redis will use for EVALSHA."""
    import hashlib

    scripts = Scripts(["send", "receive"])
    assert scripts.shas["send"] == hashlib.sha1(scripts.sources["send"].encode()).hexdigest()
    assert "KEYS" in scripts.sources["receive"]
    assert set(Scripts(["send"], file_prefix="cluster_").sources) == {"send"}


def test_scripts_splice_includes_once_and_refuse_cycles(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """'-- #include x.lua' is replaced by that file (receive.lua gets pop_live); an include cycle is a ValueError."""
    source = Scripts(["receive", "receive_many"]).sources
    for name in ("receive", "receive_many"):
        assert not [line for line in source[name].splitlines() if line.startswith("-- #include")]
        assert source[name].count("local function pop_live(list_key)") == 1
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "a.lua").write_text("-- #include b.lua\n")
    (folder / "b.lua").write_text("-- #include a.lua\n")
    scripts = Scripts([])
    monkeypatch.setattr(scripts, "_folder", folder)
    with pytest.raises(ValueError, match="Lua include cycle: a.lua -> b.lua -> a.lua"):
        scripts._read("a.lua")

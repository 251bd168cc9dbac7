"""Pure unit tests of the channel layer's building blocks: names, capacity, codec, hashing, alias table."""

from __future__ import annotations

import asyncio
import re

import msgpack
import pytest

from channellayer import BACKENDS, MemoryChannelLayer, get_channel_layer, resolve_backend
from channellayer.capacity import CapacityTable
from channellayer.codec import Codec, derive_fernet_key
from channellayer.errors import InvalidMessage, InvalidName, MessageTooLarge
from channellayer.names import check_channel_name, check_group_name, non_local_name
from channellayer.redis import consistent_hash, parse_hosts


@pytest.mark.parametrize(
    "name",
    [
        "http.request",
        "http.response!ab0def",
        "http.request.body?ab0def",
        "0.a_b-c?d_e-f.1",
        "daphne.response.AbC!",
        "x" * 99,
    ],
)
def test_valid_channel_names(name: str) -> None:
    """Names asgiref 1.1.2 accepted are accepted."""
    assert check_channel_name(name) == name


@pytest.mark.parametrize(
    "name", ["one?two?three", "four!five!six", "some+other!thing", "\u00e9t\u00e9", "x" * 100, "ends?", "", "a!b\u00e9"]
)
def test_invalid_channel_names(name: str) -> None:
    """Names asgiref 1.1.2 refused raise InvalidName, which is both TypeError and ValueError."""
    with pytest.raises(InvalidName) as info:
        check_channel_name(name)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert repr(name)[:30] in str(info.value)


def test_receive_needs_process_prefix() -> None:
    """receive=True refuses a full process-specific name and accepts its prefix."""
    assert check_channel_name("daphne.response.A!", receive=True)
    with pytest.raises(InvalidName, match="receive process-specific channels by their prefix 'daphne.response.A!'"):
        check_channel_name("daphne.response.A!b", receive=True)


def test_group_names() -> None:
    """Group names may not contain '?' or '!'."""
    assert check_group_name("chat.room-1_a") == "chat.room-1_a"
    for bad in ("a!b", "a?b", "", 5):
        with pytest.raises(InvalidName):
            check_group_name(bad)


def test_non_local_name() -> None:
    """The non-local part runs up to and including '!'."""
    assert non_local_name("daphne.response.X!Y") == "daphne.response.X!"
    assert non_local_name("http.request") == "http.request"


def test_capacity_first_match_wins() -> None:
    """Overrides are tried in order; globs and regexes both work; the default applies otherwise."""
    table = CapacityTable(100, {"http.*": 10, re.compile(r"http\.request"): 5, "daphne.response.*": 1000})
    assert table.lookup("http.request") == 10
    assert table.lookup("daphne.response.AbC!") == 1000
    assert table.lookup("websocket.receive") == 100


@pytest.mark.parametrize(
    "overrides, message",
    [
        ([("a", 1)], "must be a dict"),
        ({"a": 0}, r"channel_capacity\['a'\]"),
        ({5: 1}, "glob string or a compiled regex"),
    ],
)
def test_capacity_bad_config(overrides: object, message: str) -> None:
    """Bad channel_capacity raises ValueError naming the option."""
    with pytest.raises(ValueError, match=message):
        CapacityTable(100, overrides)  # type: ignore[arg-type]


def test_codec_matches_asgi_redis_bytes() -> None:
    """Encoding is msgpack with use_bin_type: the reference's worked example, byte for byte."""
    message = {
        "reply_channel": "daphne.response.AbCdEfGhIj!kLmNoPqRsT",
        "path": "/",
        "body": b"xx",
        "headers": [[b"host", b"a"]],
    }
    data = Codec().encode("c", message)
    assert data.hex().startswith("84ad7265706c795f6368616e6e656cd925")
    assert data.endswith(bytes.fromhex("a7686561646572739192c404686f7374c40161"))
    assert msgpack.unpackb(data, raw=False) == message


def test_codec_errors() -> None:
    """Unserialisable values and oversize messages raise specific errors; garbage fails to decode."""
    codec = Codec(max_message_size=50)
    with pytest.raises(InvalidMessage, match=r"message\['a'\]\[1\] is a object"):
        codec.encode("c", {"a": [1, object()]})
    with pytest.raises(MessageTooLarge, match="'c' is 105 bytes encoded; the limit is 50 bytes"):
        codec.encode("c", {"a": b"x" * 100})
    with pytest.raises(ValueError, match="not a dict"):
        codec.decode(msgpack.packb([1]))


def test_fernet_key_derivation() -> None:
    """Keys derive as asgi_redis did: urlsafe base64 of the SHA-256 of the UTF-8 key."""
    assert derive_fernet_key("secret") == b"K7gNU3sdo-OL0wNhqoVWhr3g6s1xYv72ol_pe_Unols="
    assert derive_fernet_key(b"secret") == derive_fernet_key("secret")
    encrypting = Codec(["k1"])
    assert Codec(["k2", "k1"]).decode(encrypting.encode("c", {"a": 1})) == {"a": 1}
    with pytest.raises(ValueError, match="could not be decrypted"):
        Codec(["other"]).decode(encrypting.encode("c", {"a": 1}))


def test_consistent_hash_matches_reference() -> None:
    """The shard index is asgi_redis's: low 12 bits of CRC32 cut into equal ranges."""
    assert [consistent_hash("mygroup", n) for n in (1, 2, 3, 4)] == [0, 1, 2, 3]
    assert [consistent_hash("daphne.response.AbCdEfGhIj!", n) for n in (1, 2, 3, 4)] == [0, 0, 0, 0]


def test_parse_hosts() -> None:
    """Tuples become redis:// URLs; URLs pass; a bare string is refused with a hint."""
    assert parse_hosts([("h", 1), "redis://:pw@x:2/3", "unix:///tmp/r.sock"], []) == [
        "redis://h:1/0",
        "redis://:pw@x:2/3",
        "unix:///tmp/r.sock",
    ]
    assert parse_hosts([("::1", 6379)], []) == ["redis://[::1]:6379/0"]
    with pytest.raises(ValueError, match="hosts must be a list .* wrap a single host in a list"):
        parse_hosts("redis://localhost", [])
    with pytest.raises(ValueError, match="must be a redis://"):
        parse_hosts(["localhost:6379"], [])


def test_alias_table_resolves_legacy_names() -> None:
    """Every alias imports, and legacy settings' BACKEND strings map to our classes."""
    for alias in BACKENDS:
        assert isinstance(resolve_backend(alias), type)
    assert resolve_backend("asgi_redis.RedisChannelLayer").__name__ == "RedisChannelLayer"
    assert resolve_backend("asgiref.inmemory.ChannelLayer") is MemoryChannelLayer
    assert resolve_backend("asgi_ipc.IPCChannelLayer").__name__ == "SQLiteChannelLayer"
    assert resolve_backend("channellayer.memory:MemoryChannelLayer") is MemoryChannelLayer


def test_unknown_backend_suggests() -> None:
    """An unknown backend fails with a 'did you mean'."""
    with pytest.raises(
        ValueError,
        match="unknown channel layer backend 'asgi_redis.RedisChanelLayer'; did you mean 'asgi_redis.RedisChannelLayer'",
    ):
        resolve_backend("asgi_redis.RedisChanelLayer")
    with pytest.raises(ValueError, match="unknown channel layer backend 'mongo'"):
        resolve_backend("mongo")


def test_unknown_option_is_named() -> None:
    """An unknown CONFIG key fails before the layer is built, naming it and the closest option."""
    with pytest.raises(TypeError, match="MemoryChannelLayer has no option 'capacty'; did you mean 'capacity'"):
        get_channel_layer("memory", {"capacty": 5})
    with pytest.raises(TypeError, match="RedisChannelLayer has no option 'host'; did you mean 'hosts'"):
        get_channel_layer("redis", {"host": "localhost"})


@pytest.mark.parametrize(
    "config, message",
    [
        ({"hosts": "redis://localhost:6379"}, "hosts must be a list"),
        ({"symmetric_encryption_keys": "key"}, "symmetric_encryption_keys must be a list of keys, not str"),
        ({"expiry": 0}, "expiry must be a positive integer"),
        ({"capacity": -1}, "capacity must be a positive integer"),
        ({"prefix": b"asgi:"}, "prefix must be a non-empty str"),
        ({"connection_kwargs": [1]}, "connection_kwargs must be a dict"),
    ],
)
def test_bad_config_is_named(config: dict[str, object], message: str) -> None:
    """Bad option values fail at construction with a ValueError naming the option."""
    with pytest.raises(ValueError, match=message):
        get_channel_layer("redis", config)


def test_ipc_alias_maps_prefix_to_a_file(tmp_path: object) -> None:
    """asgi_ipc settings (prefix, capacity) build a SQLite layer on a file named after the prefix."""
    layer = get_channel_layer("asgi_ipc.IPCChannelLayer", {"prefix": "myproj-test", "capacity": 7})
    try:
        assert layer.capacity == 7
        assert str(getattr(layer, "path", "")).endswith("channels-classic-myproj-test.sqlite3")
    finally:
        layer.flush()
        layer.close()


def test_memory_async_receive_holds_no_thread_and_wakes_on_a_send_from_another_thread() -> None:
    """An idle receive_async on the memory layer waits on its loop (no thread); a send from a thread wakes it."""
    import threading
    import time

    from channellayer import MemoryChannelLayer

    layer = MemoryChannelLayer(blocking_timeout=5)

    async def scenario() -> float:
        before = threading.active_count()
        task = asyncio.ensure_future(layer.receive_async(["wake!"]))
        await asyncio.sleep(0.1)
        assert threading.active_count() == before
        began = time.monotonic()
        threading.Thread(target=layer.send, args=("wake!x", {"n": 1})).start()
        assert await asyncio.wait_for(task, 2) == ("wake!x", {"n": 1})
        return time.monotonic() - began

    assert asyncio.run(scenario()) < 0.5


def test_memory_async_receive_cancelled_leaves_no_waiter_behind() -> None:
    """A cancelled receive_async unregisters its wake-up, and the message stays for the next receiver."""
    from channellayer import MemoryChannelLayer

    layer = MemoryChannelLayer()

    async def scenario() -> None:
        task = asyncio.ensure_future(layer.receive_async(["gone"]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not layer._async_waiters
        layer.send("gone", {"kept": 1})
        assert await layer.receive_async(["gone"]) == ("gone", {"kept": 1})

    asyncio.run(scenario())

"""The channel-layer contract, written once as tests and run against every backend.

Use it from pytest: subclass :class:`ConformanceSuite` in a test module and provide a ``make_layer``
fixture returning a factory ``make_layer(**options) -> layer`` that builds a fresh, flushed layer of
the backend under test with those options. Every test method takes that fixture. It covers the
asgiref 1.1.2 conformance tests (reference §6.3) and the guarantees this project adds: size and
name errors, blocking without polling, the group capacity rule, async, batching, encryption.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from .base import BaseChannelLayer
from .errors import ChannelFull, InvalidMessage, InvalidName, MessageTooLarge

__all__ = ["ConformanceSuite"]

Factory = Callable[..., BaseChannelLayer]


def _drain(layer: BaseChannelLayer, channels: list[str], limit: int = 10_000) -> list[tuple[str, dict[str, Any]]]:
    got: list[tuple[str, dict[str, Any]]] = []
    while len(got) < limit:
        channel, message = layer.receive(channels)
        if channel is None:
            break
        assert message is not None
        got.append((channel, message))
    return got


class ConformanceSuite:
    """ASGI 1 channel layer conformance; see the module docstring for how to run it."""

    # -- the asgiref 1.1.2 suite ------------------------------------------------------------

    def test_send_recv(self, make_layer: Factory) -> None:
        """Messages come back from the channel they were sent to, with the channel's name."""
        layer = make_layer()
        for value in ("blue", "green", "yellow"):
            layer.send("sr_test", {"value": value})
        layer.send("sr_test2", {"value": "red"})
        got = [layer.receive(["sr_test"]) for _ in range(3)]
        assert sorted(m["value"] for _, m in got) == ["blue", "green", "yellow"]  # type: ignore[index]
        assert {c for c, _ in got} == {"sr_test"}
        assert layer.receive(["sr_test", "sr_test2"]) == ("sr_test2", {"value": "red"})

    def test_single_process_receive(self, make_layer: Factory) -> None:
        """A process channel is received by its prefix and returned under its full name."""
        layer = make_layer()
        layer.send("spr_test!a", {"best": "ponies"})
        assert layer.receive(["spr_test!"]) == ("spr_test!a", {"best": "ponies"})
        layer.send("spr_test!b", {"best": "pangolins"})
        assert layer.receive(["spr_test!"]) == ("spr_test!b", {"best": "pangolins"})

    def test_single_process_receive_error(self, make_layer: Factory) -> None:
        """Receiving on a full process-specific name (not its prefix) is an InvalidName naming it."""
        layer = make_layer()
        with pytest.raises(InvalidName, match="spr_test!c"):
            layer.receive(["spr_test!c"])

    def test_message_expiry(self, make_layer: Factory) -> None:
        """A message not received within `expiry` seconds is gone."""
        layer = make_layer(expiry=1)
        layer.send("me_test", {"value": "blue"})
        time.sleep(1.2)
        assert layer.receive(["me_test"]) == (None, None)

    def test_new_channel_single_reader(self, make_layer: Factory) -> None:
        """new_channel makes a unique '?' name that can be sent to and received from."""
        layer = make_layer()
        name = layer.new_channel("test.foo?")
        assert isinstance(name, str) and name.count("?") == 1 and not name.endswith("?")
        other = layer.new_channel("test.foo?")
        assert other != name
        layer.send(name, {"value": "blue"})
        assert layer.receive([other, name]) == (name, {"value": "blue"})

    def test_new_channel_failures(self, make_layer: Factory) -> None:
        """new_channel accepts only patterns ending in '?'."""
        layer = make_layer()
        for pattern in ("test!", "test.foo"):
            with pytest.raises(InvalidName, match="must be a str ending with '\\?'"):
                layer.new_channel(pattern)

    def test_strings(self, make_layer: Factory) -> None:
        """bytes and str values keep their types and contents, nested too."""
        layer = make_layer()
        message = {
            "bytes": b"\xc2\xa3",
            "nested": {"raw": b"\x01\x00\x03\x21", "text": "\u00a3"},
            "list": ["\U0001f612", b"\xff"],
            "int": -(2**62),
            "float": 1.5,
            "none": None,
            "bool": True,
        }
        layer.send("str_test", message)
        assert layer.receive(["str_test"]) == ("str_test", message)

    def test_groups(self, make_layer: Factory) -> None:
        """send_group reaches the members and not the discarded one."""
        layer = make_layer()
        for channel in ("tg_test", "tg_test2", "tg_test3"):
            layer.group_add("tgroup", channel)
        layer.group_discard("tgroup", "tg_test2")
        assert layer.send_group("tgroup", {"value": "orange"}) == 2
        assert layer.receive(["tg_test"]) == ("tg_test", {"value": "orange"})
        assert layer.receive(["tg_test3"]) == ("tg_test3", {"value": "orange"})
        assert layer.receive(["tg_test2"]) == (None, None)

    def test_groups_process(self, make_layer: Factory) -> None:
        """Group members that are process channels are delivered through their prefix."""
        layer = make_layer()
        for channel in ("tgp!test", "tgp!test2", "tgp!test3"):
            layer.group_add("tgroup", channel)
        layer.group_discard("tgroup", "tgp!test2")
        layer.send_group("tgroup", {"value": "orange"})
        got = {layer.receive(["tgp!"])[0], layer.receive(["tgp!"])[0]}
        assert got == {"tgp!test", "tgp!test3"}
        assert layer.receive(["tgp!"]) == (None, None)

    def test_group_channels(self, make_layer: Factory) -> None:
        """group_channels lists the members; add is idempotent and discarding a stranger is a no-op."""
        layer = make_layer()
        layer.group_add("tgroup", "tg_test")
        layer.group_add("tgroup", "tg_test")
        layer.group_add("tgroup", "tg_test2")
        layer.group_discard("tgroup", "nobody")
        assert sorted(layer.group_channels("tgroup")) == ["tg_test", "tg_test2"]
        layer.group_discard("tgroup", "tg_test")
        assert list(layer.group_channels("tgroup")) == ["tg_test2"]

    def test_flush(self, make_layer: Factory) -> None:
        """flush() drops queued messages."""
        layer = make_layer()
        layer.send("fl_test", {})
        layer.send("fl_test!a", {})
        layer.flush()
        assert layer.receive(["fl_test", "fl_test!"]) == (None, None)

    def test_flush_groups(self, make_layer: Factory) -> None:
        """flush() drops group memberships too."""
        layer = make_layer()
        layer.group_add("tfg_group", "tfg_test")
        layer.flush()
        assert layer.send_group("tfg_group", {}) == 0
        assert layer.receive(["tfg_test"]) == (None, None)

    def test_group_expiry(self, make_layer: Factory) -> None:
        """A membership older than group_expiry no longer receives group messages."""
        layer = make_layer(group_expiry=1)
        layer.group_add("tge_group", "tge_test")
        time.sleep(2.1)
        layer.send_group("tge_group", {"value": "blue"})
        assert layer.receive(["tge_test"]) == (None, None)
        assert list(layer.group_channels("tge_group")) == []

    def test_capacity(self, make_layer: Factory) -> None:
        """The send after `capacity` queued messages (per shard, for sharded normal channels) raises ChannelFull."""
        layer = make_layer(capacity=5)
        for _ in range(5 * getattr(layer, "ring_size", 1)):
            layer.send("cap_test", {})
        with pytest.raises(ChannelFull, match="cap_test"):
            layer.send("cap_test", {})
        assert isinstance(layer.ChannelFull(), ChannelFull)

    def test_send_with_lower_capacity(self, make_layer: Factory) -> None:
        """send(..., capacity=N) refuses once the list holds N messages; plain sends still use the channel's capacity."""
        layer = make_layer(capacity=5)
        layer.send("win!a", {"n": 0}, capacity=2)
        layer.send("win!b", {"n": 1}, capacity=2)
        with pytest.raises(ChannelFull):
            layer.send("win!c", {"n": 2}, capacity=2)
        layer.send("win!d", {"n": 3})
        with pytest.raises(ValueError, match="capacity must be a positive integer"):
            layer.send("win!e", {}, capacity=0)
        assert [m["n"] for _, m in _drain(layer, ["win!"])] == [0, 1, 3]

    def test_capacity_process(self, make_layer: Factory) -> None:
        """All channels of one process share the capacity of its list."""
        layer = make_layer(capacity=5)
        for i in range(5):
            layer.send(f"capp!{i}", {})
        with pytest.raises(ChannelFull, match="capp!"):
            layer.send("capp!final", {})

    def test_capacity_group(self, make_layer: Factory) -> None:
        """Group sends never raise ChannelFull."""
        layer = make_layer(capacity=5)
        layer.group_add("tcg_group", "tcg!test")
        results = [layer.send_group("tcg_group", {"n": i}) for i in range(7)]
        assert results == [1] * 5 + [0] * 2
        assert len(_drain(layer, ["tcg!"])) == 5

    def test_exceptions(self, make_layer: Factory) -> None:
        """The layer exposes ChannelFull and MessageTooLarge as attributes, for legacy callers."""
        layer = make_layer()
        assert issubclass(layer.ChannelFull, Exception)
        assert issubclass(layer.MessageTooLarge, Exception)

    def test_message_alteration_after_send(self, make_layer: Factory) -> None:
        """Changing a dict after sending it does not change what is received."""
        layer = make_layer()
        message = {"value": [1, 2, 3]}
        layer.send("mas_test", message)
        message["value"][0] = 42
        assert layer.receive(["mas_test"])[1] == {"value": [1, 2, 3]}

    # -- what this project adds ---------------------------------------------------------------

    def test_message_too_large(self, make_layer: Factory) -> None:
        """A message over max_message_size raises MessageTooLarge with its size and nothing is queued."""
        layer = make_layer(max_message_size=1000)
        with pytest.raises(MessageTooLarge, match=r"'big' is \d+ bytes encoded; the limit is 1000 bytes") as info:
            layer.send("big", {"body": b"x" * 2000})
        assert info.value.size > 2000 and info.value.limit == 1000
        assert layer.receive(["big"]) == (None, None)

    def test_default_size_limit_is_one_mebibyte(self, make_layer: Factory) -> None:
        """Messages just under 1 MiB pass; just over raise MessageTooLarge."""
        layer = make_layer()
        layer.send("big", {"body": b"x" * (1024 * 1024 - 100)})
        assert len(layer.receive(["big"])[1]["body"]) == 1024 * 1024 - 100  # type: ignore[index]
        with pytest.raises(MessageTooLarge):
            layer.send("big", {"body": b"x" * (1024 * 1024)})

    def test_bad_names(self, make_layer: Factory) -> None:
        """Invalid channel and group names raise InvalidName (a TypeError and a ValueError) naming them."""
        layer = make_layer()
        for bad in ("one?two?three", "four!five!six", "some+other!thing", "caf\u00e9", "x" * 100, "ends?"):
            with pytest.raises(InvalidName, match="channel name"):
                layer.send(bad, {})
        with pytest.raises(TypeError, match="must be str, not bytes"):
            layer.send(b"bytes", {})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="group name 'bad!group'"):
            layer.group_add("bad!group", "chan")
        with pytest.raises(InvalidName, match="must be a list of channel names, not str"):
            layer.receive("http.request")

    def test_bad_messages(self, make_layer: Factory) -> None:
        """Non-dict messages and unserialisable values raise InvalidMessage naming the problem."""
        layer = make_layer()
        with pytest.raises(InvalidMessage, match="must be a dict, not list"):
            layer.send("chan", [1, 2])  # type: ignore[arg-type]
        with pytest.raises(InvalidMessage, match=r"message\['when'\] is a set"):
            layer.send("chan", {"when": {1, 2}})
        with pytest.raises(InvalidMessage, match="reserved key '__asgi_channel__'"):
            layer.send("chan", {"__asgi_channel__": "x"})
        assert layer.receive(["chan"]) == (None, None)

    def test_process_channel_order(self, make_layer: Factory) -> None:
        """Messages to one process are received in the order they were sent."""
        layer = make_layer()
        for i in range(20):
            layer.send(f"order!{i % 3}", {"n": i})
        assert [m["n"] for _, m in _drain(layer, ["order!"])] == list(range(20))

    def test_blocking_receive_wakes_on_send(self, make_layer: Factory) -> None:
        """A blocked receive returns soon after another thread sends, without waiting out its timeout."""
        layer = make_layer(blocking_timeout=5)
        sender = threading.Timer(0.3, lambda: layer.send("wake!x", {"ok": True}))
        started = time.monotonic()
        sender.start()
        try:
            assert layer.receive(["wake!"], block=True) == ("wake!x", {"ok": True})
        finally:
            sender.join()
        assert time.monotonic() - started < 2.0

    def test_blocking_receive_on_normal_channel_wakes_on_every_send(self, make_layer: Factory) -> None:
        """Each of several sends to a normal channel (round-robin over any shards) wakes a blocked receive promptly."""
        layer = make_layer(blocking_timeout=5)
        for n in range(4):
            sender = threading.Timer(0.1, lambda n=n: layer.send("wake.normal", {"n": n}))
            started = time.monotonic()
            sender.start()
            try:
                assert layer.receive(["wake.normal"], block=True) == ("wake.normal", {"n": n})
            finally:
                sender.join()
            assert time.monotonic() - started < 1.0

        async def via_async() -> None:
            for n in range(4):
                handle = asyncio.get_running_loop().call_later(0.1, layer.send, "wake.normal", {"n": n})
                started = time.monotonic()
                assert await layer.receive_async(["wake.normal"]) == ("wake.normal", {"n": n})
                assert time.monotonic() - started < 1.0
                handle.cancel()
            await layer.aclose()

        asyncio.run(via_async())

    def test_blocking_receive_times_out(self, make_layer: Factory) -> None:
        """With nothing to receive, a blocking receive returns (None, None) after blocking_timeout."""
        layer = make_layer(blocking_timeout=0.5)
        started = time.monotonic()
        assert layer.receive(["idle"], block=True) == (None, None)
        assert 0.4 <= time.monotonic() - started < 3.0

    def test_group_send_to_one_process_reaches_every_member(self, make_layer: Factory) -> None:
        """A group of 1,000 sockets on one interface server gets all 1,000 copies at default capacity."""
        layer = make_layer()
        members = [f"daphne.response.AbCdEfGhIj!{i:04d}" for i in range(1000)]
        for member in members:
            layer.group_add("everyone", member)
        assert layer.send_group("everyone", {"text": "hello"}) == 1000
        got = _drain(layer, ["daphne.response.AbCdEfGhIj!"])
        assert sorted(c for c, _ in got) == members
        assert all(m == {"text": "hello"} for _, m in got)

    def test_group_send_to_full_list_is_bounded(self, make_layer: Factory) -> None:
        """A full process list skips a whole group send, so it holds at most capacity-1 + members entries."""
        layer = make_layer(capacity=5)
        members = [f"busy!{i}" for i in range(50)]
        for member in members:
            layer.group_add("crowd", member)
        queued = [layer.send_group("crowd", {"n": n}) for n in range(3)]
        assert queued == [50, 0, 0]
        assert len(_drain(layer, ["busy!"])) == 50
        assert layer.send_group("crowd", {"n": 3}) == 50

    def test_channel_capacity_overrides(self, make_layer: Factory) -> None:
        """channel_capacity globs and regexes apply to the non-local name; the first match wins."""
        import re

        layer = make_layer(
            capacity=10, channel_capacity={"daphne.response.*": 2, re.compile(r"^http\."): 3, "http.request": 7}
        )
        assert layer.get_capacity("daphne.response.AbC!xyz") == 2
        assert layer.get_capacity("http.request") == 3
        assert layer.get_capacity("websocket.receive") == 10
        for i in range(2):
            layer.send(f"daphne.response.AbC!{i}", {})
        with pytest.raises(ChannelFull):
            layer.send("daphne.response.AbC!late", {})

    def test_receive_many_is_a_deprecated_alias(self, make_layer: Factory) -> None:
        """receive_many() still works for Channels 1 callers and warns DeprecationWarning."""
        layer = make_layer()
        layer.send("rm_test", {"a": 1})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert layer.receive_many(["rm_test"]) == ("rm_test", {"a": 1})
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)

    def test_send_many(self, make_layer: Factory) -> None:
        """send_many reports each message's fate; a full channel does not stop the rest of the batch."""
        layer = make_layer(capacity=2)
        results = layer.send_many([("sm!a", {"n": 1}), ("sm!b", {"n": 2}), ("sm!c", {"n": 3}), ("sm2", {"n": 4})])
        assert results == [True, True, False, True]
        assert sorted(m["n"] for _, m in _drain(layer, ["sm!", "sm2"])) == [1, 2, 4]
        with pytest.raises(InvalidName):
            layer.send_many([("ok", {}), ("bad+name", {})])
        assert layer.receive(["ok"]) == (None, None)

    def test_async_extension(self, make_layer: Factory) -> None:
        """receive_async, send_async, send_many_async and send_group_async behave like their sync twins."""
        layer = make_layer(capacity=3)
        assert "asyncio" in layer.extensions

        async def scenario() -> None:
            await layer.send_async("as!a", {"n": 1})
            assert await layer.receive_async(["as!"]) == ("as!a", {"n": 1})
            assert await layer.send_many_async([("as!b", {"n": 2}), ("as!c", {"n": 3})]) == [True, True]
            layer.group_add("ag", "as!d")
            assert await layer.send_group_async("ag", {"n": 4}) == 1
            got = [await layer.receive_async(["as!"]) for _ in range(3)]
            assert [c for c, _ in got] == ["as!b", "as!c", "as!d"]
            for i in range(3):
                await layer.send_async(f"full!{i}", {})
            with pytest.raises(ChannelFull):
                await layer.send_async("full!x", {})
            later = asyncio.get_running_loop().call_later(0.2, layer.send, "as!late", {"late": True})
            started = time.monotonic()
            assert await layer.receive_async(["as!"]) == ("as!late", {"late": True})
            assert time.monotonic() - started < 2.0
            later.cancel()
            await layer.aclose()

        asyncio.run(scenario())

    def test_receive_batch_async(self, make_layer: Factory) -> None:
        """receive_batch_async returns ready messages in order (at least one, at most ``limit``) and waits when empty."""
        layer = make_layer(capacity=50)

        async def scenario() -> None:
            for n in range(5):
                await layer.send_async(f"rb!{n}", {"n": n})
            got: list[tuple[str, dict[str, Any]]] = []
            while len(got) < 5:
                batch = await layer.receive_batch_async("rb!", limit=3)
                assert 1 <= len(batch) <= 3
                got.extend(batch)
            assert got == [(f"rb!{n}", {"n": n}) for n in range(5)]
            big = b"x" * 4000
            for n in range(4):
                await layer.send_async(f"rb!big{n}", {"b": big})
            first = await layer.receive_batch_async("rb!", limit=10, max_bytes=6000)
            assert 1 <= len(first) <= 2, "the byte budget bounds a batch"
            rest = [c for c, _ in first]
            while len(rest) < 4:
                rest.extend(c for c, _ in await layer.receive_batch_async("rb!", limit=10, max_bytes=6000))
            assert rest == [f"rb!big{n}" for n in range(4)]
            later = asyncio.get_running_loop().call_later(0.2, layer.send, "rb!late", {"late": True})
            started = time.monotonic()
            assert await layer.receive_batch_async("rb!") == [("rb!late", {"late": True})]
            assert time.monotonic() - started < 2.0
            later.cancel()
            await layer.aclose()

        asyncio.run(scenario())

    def test_statistics(self, make_layer: Factory) -> None:
        """Counters count sends and full channels; channel statistics count pending messages."""
        layer = make_layer(capacity=2)
        before = layer.global_statistics()
        layer.send("st!a", {})
        layer.send("st!b", {})
        with pytest.raises(ChannelFull):
            layer.send("st!c", {})
        after = layer.global_statistics()
        assert after["messages_count"] - before.get("messages_count", 0) == 2
        assert after["channel_full_count"] - before.get("channel_full_count", 0) == 1
        assert layer.channel_statistics("st!")["messages_pending"] == 2

    def test_encryption(self, make_layer: Factory) -> None:
        """With symmetric_encryption_keys, messages round-trip and a layer with other keys cannot read them."""
        layer = make_layer(symmetric_encryption_keys=["new-secret", "old-secret"])
        layer.send("enc", {"secret": b"\x00\x01", "text": "t"})
        assert layer.receive(["enc"]) == ("enc", {"secret": b"\x00\x01", "text": "t"})
        with pytest.raises(ValueError, match="symmetric_encryption_keys must be a list"):
            make_layer(symmetric_encryption_keys="bare-string")

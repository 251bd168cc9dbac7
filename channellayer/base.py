"""The ASGI 1 channel-layer API, written once; backends supply a handful of storage operations.

Theory of operation
-------------------
A *list* is the unit of storage: a normal or ``?`` channel is stored under its own name, and every
process-specific channel ``prefix!local`` is stored on the list ``prefix!`` with the full name kept
inside the message under ``__asgi_channel__`` (as asgi_redis and asgiref.inmemory did). Capacity
is looked up on the list's name. This class validates names and messages, encodes them (which is
also the copy-on-send), and hands ``(list, payload, capacity)`` to the backend.

Group sends use one rule for every list: **a group send delivers to all of its members on a list
if that list had room (fewer entries than its capacity) when the send arrived, and to none of them
otherwise**. So a broadcast to 1,000 sockets that share one interface server's reply list reaches
all 1,000, while the list can never grow past ``capacity - 1`` plus the number of members one group
has on it: memory stays bounded by the sockets a process holds.

Backends implement ``_push``, ``_push_many``, ``_pop``, ``_exists``, ``_group_add``,
``_group_discard``, ``_group_members``, ``_push_group``, ``_flush`` and the statistics hooks. The
asyncio extension is written here too, on asynchronous twins of the storage operations
(``_pop_async``, ``_pop_batch_async``, ``_push_async``, ``_push_many_async``, ``_group_members_async``,
``_push_group_async``) that default to the synchronous ones in a thread; a backend with a native
asyncio client (Redis, Redis Cluster) overrides only those, so the rules live once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import string
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from .capacity import CapacityTable
from .codec import DEFAULT_MAX_MESSAGE_SIZE, Codec
from .errors import BackendUnavailable, ChannelFull, InvalidMessage, InvalidName, MessageTooLarge
from .names import check_channel_name, check_group_name, non_local_name
from .options import positive

__all__ = ["BaseChannelLayer", "RESERVED_CHANNEL_KEY", "Received"]

logger = logging.getLogger("channellayer")

#: Key under which a process-specific message carries its full channel name while it is stored.
RESERVED_CHANNEL_KEY = "__asgi_channel__"

Received = tuple[str | None, dict[str, Any] | None]
Prepared = tuple[str, bytes, int]


class BaseChannelLayer:
    """The ASGI 1 channel layer contract; subclasses provide storage."""

    extensions: ClassVar[list[str]] = ["groups", "flush", "statistics", "asyncio"]

    ChannelFull = ChannelFull
    MessageTooLarge = MessageTooLarge
    BackendUnavailable = BackendUnavailable

    #: Random letters appended by :meth:`new_channel` (asgi_redis used 12).
    new_channel_length: ClassVar[int] = 12

    def __init__(
        self,
        *,
        expiry: int = 60,
        group_expiry: int = 86400,
        capacity: int = 100,
        channel_capacity: Mapping[Any, int] | None = None,
        symmetric_encryption_keys: Sequence[str | bytes] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        blocking_timeout: float = 5,
    ) -> None:
        self.expiry = positive("expiry", expiry)
        self.group_expiry = positive("group_expiry", group_expiry)
        self.capacities = CapacityTable(capacity, channel_capacity)
        self.capacity = self.capacities.default
        self.blocking_timeout = positive("blocking_timeout", blocking_timeout, float)
        self.codec = Codec(
            symmetric_encryption_keys,
            expiry=self.expiry,
            max_message_size=positive("max_message_size", max_message_size),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    # -- core API --------------------------------------------------------------------------

    def get_capacity(self, channel: str) -> int:
        """Capacity of ``channel``'s list (asgiref 1.x name, kept for old callers)."""
        return self.capacities.lookup(non_local_name(channel))

    def send(self, channel: str, message: Mapping[str, Any], *, capacity: int | None = None) -> None:
        """Queue ``message`` on ``channel``; raise ChannelFull or MessageTooLarge. Never blocks.

        Messages are typed ``Mapping`` so the TypedDicts of :mod:`channellayer.messages` fit; at run
        time a message must be a ``dict`` (InvalidMessage otherwise), as ASGI 1 says.

        ``capacity`` (our extension, keyword only) lowers the channel's capacity for this one send:
        a streamed response's later chunks use it so a stream runs at most a few messages ahead of
        what the interface server has taken, instead of filling the process list shared by every
        other connection (see docs/channel-layers.md, "Flow control on the reply path"). Where the
        backend supports it, such a send also raises ChannelPaused while the receiving connection
        is paused (``pause_async``).
        """
        target, payload, limit = self._prepare(channel, message)
        if capacity is None:
            self._push(target, payload, limit)
        else:
            self._push_window(channel, target, payload, min(limit, positive("capacity", capacity)))

    def send_many(self, messages: Iterable[tuple[str, Mapping[str, Any]]]) -> list[bool]:
        """Send several messages in one batch; True for each delivered, False where the channel was full.

        Every message is validated and encoded before anything is sent, so a bad one raises
        without sending any of them.
        """
        prepared = [self._prepare(channel, message) for channel, message in messages]
        if not prepared:
            return []
        return self._push_many(prepared)

    def receive(self, channels: Sequence[str], block: bool = False) -> Received:
        """Return ``(channel, message)`` from one of ``channels``, or ``(None, None)``."""
        names = self._receive_names(channels)
        return self._decode(self._pop(names, bool(block)))

    def receive_many(self, channels: Sequence[str], block: bool = False) -> Received:
        """Deprecated name of :meth:`receive`, still called by Channels 1.x code."""
        warnings.warn("receive_many() is deprecated; use receive()", DeprecationWarning, stacklevel=2)
        return self.receive(channels, block)

    def new_channel(self, pattern: str) -> str:
        """A new, unused single-reader channel name: ``pattern`` (ending in ``?``) plus random letters."""
        if not isinstance(pattern, str) or not pattern.endswith("?"):
            raise InvalidName(f"new_channel pattern {pattern!r} must be a str ending with '?'")
        check_channel_name(pattern + "x")
        while True:
            name = pattern + "".join(random.choices(string.ascii_letters, k=self.new_channel_length))
            if not self._exists(name):
                return name

    # -- groups extension -----------------------------------------------------------------

    def group_add(self, group: str, channel: str) -> None:
        self._group_add(check_group_name(group), check_channel_name(channel))

    def group_discard(self, group: str, channel: str) -> None:
        self._group_discard(check_group_name(group), check_channel_name(channel))

    def group_channels(self, group: str) -> list[str]:
        return self._group_members(check_group_name(group))

    def send_group(self, group: str, message: Mapping[str, Any]) -> int:
        """Send ``message`` to every member of ``group``; return how many copies were queued.

        Never raises ChannelFull: members whose list is full are skipped (see the module docstring
        for the rule). May raise MessageTooLarge.
        """
        members = self._group_members(check_group_name(group))
        batches = self._group_send_batches(group, members, message)
        return self._push_group(batches) if batches else 0

    def _group_send_batches(
        self, group: str, members: list[str], message: Mapping[str, Any]
    ) -> dict[str, tuple[int, list[bytes]]]:
        """The per-list batches of a group send; with no members the message is still checked and encoded,
        so a bad or oversized message raises whether or not anybody is listening."""
        if not members:
            self._check_message(group, message)
            self.codec.encode(group, message)
            return {}
        return self._group_batches(members, message)

    def _group_batches(self, members: Iterable[str], message: Mapping[str, Any]) -> dict[str, tuple[int, list[bytes]]]:
        self._check_message(members, message)
        batches: dict[str, tuple[int, list[bytes]]] = {}
        shared: bytes | None = None
        for channel in members:
            target = non_local_name(channel)
            if target == channel:
                if shared is None:
                    shared = self.codec.encode(channel, message)
                payload = shared
            else:
                payload = self.codec.encode(channel, {**message, RESERVED_CHANNEL_KEY: channel})
            if target not in batches:
                batches[target] = (self.capacities.lookup(target), [])
            batches[target][1].append(payload)
        return batches

    # -- asyncio extension ----------------------------------------------------------------

    async def receive_async(self, channels: Sequence[str]) -> Received:
        """Blocking receive as a coroutine; returns ``(None, None)`` after the built-in timeout."""
        return self._decode(await self._pop_async(self._receive_names(channels)))

    async def receive_batch_async(
        self, channel: str, limit: int = 64, max_bytes: int = 1 << 20
    ) -> list[tuple[str, dict[str, Any]]]:
        """Wait like ``receive_async([channel])``, then return every message ready, up to ``limit``.

        ``max_bytes`` is a budget for one batch (a single larger message still comes alone). An
        empty list means the built-in timeout passed. Backends that can pop several messages in one
        round trip implement ``_pop_batch_async``; the default returns at most one.
        """
        name = self._receive_names([channel])[0]
        popped = await self._pop_batch_async(name, positive("limit", limit), positive("max_bytes", max_bytes))
        decoded = (self._decode(item) for item in popped)
        return [(received, message) for received, message in decoded if received is not None and message is not None]

    async def pause_async(self, channel: str, paused: bool) -> None:
        """Ask windowed senders to ``channel`` to wait (True) or go on (False); best effort.

        An interface server calls this for a connection whose client stopped reading. Backends
        without support ignore it (windowed sends then only see the list length).
        """

    async def send_async(self, channel: str, message: Mapping[str, Any]) -> None:
        await self._push_async(*self._prepare(channel, message))

    async def send_many_async(self, messages: Iterable[tuple[str, Mapping[str, Any]]]) -> list[bool]:
        prepared = [self._prepare(channel, message) for channel, message in messages]
        return await self._push_many_async(prepared) if prepared else []

    async def send_group_async(self, group: str, message: Mapping[str, Any]) -> int:
        members = await self._group_members_async(check_group_name(group))
        batches = self._group_send_batches(group, members, message)
        return await self._push_group_async(batches) if batches else 0

    # -- flush / statistics / lifecycle ---------------------------------------------------

    def flush(self) -> None:
        """Delete every message and group membership of this layer."""
        self._flush()

    def global_statistics(self) -> dict[str, int]:
        return self._global_statistics()

    def channel_statistics(self, channel: str) -> dict[str, int | float]:
        return self._channel_statistics(non_local_name(check_channel_name(channel, receive=True)))

    # -- operations: channel depths and process announcements (docs/operations.md) -------

    def channel_depths(self, channels: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """``{channel: {"depth": queued messages, "oldest_age": seconds or None}}`` for each of ``channels``.

        For the status view and its metrics. This default asks :meth:`channel_statistics` once per
        channel; backends answer in fewer round trips.
        """
        depths: dict[str, dict[str, float | None]] = {}
        for channel in channels:
            stats = self.channel_statistics(channel)
            age = stats.get("messages_max_age")
            depths[channel] = {
                "depth": stats.get("messages_pending", 0),
                "oldest_age": None if age is None else float(age),
            }
        return depths

    def announce(self, kind: str, ident: str, info: Mapping[str, Any], ttl: float) -> None:
        """Publish a heartbeat of one process (``kind`` "worker" or "interface"), visible for ``ttl`` seconds.

        ``info`` must be JSON-serialisable; a later announce of the same ``(kind, ident)`` replaces it.
        A backend that keeps no announcements raises NotImplementedError (the status view then says
        it cannot list processes, instead of calling every channel unconsumed).
        """
        if not kind or not ident or ":" in kind:
            raise ValueError(f"announce needs a kind without ':' and an ident, not {kind!r}, {ident!r}")
        positive("ttl", ttl, float)
        self._announce(kind, ident, json.dumps(dict(info), sort_keys=True), float(ttl))

    def announcements(self) -> list[dict[str, Any]]:
        """Every live announcement: its ``info`` plus ``kind`` and ``ident``, sorted by kind and ident."""
        found = []
        for kind, ident, text in self._announcements():
            try:
                info = json.loads(text)
            except ValueError:
                continue  # a foreign or damaged entry is not ours to report
            if isinstance(info, dict):
                found.append({**info, "kind": kind, "ident": ident})
        return sorted(found, key=lambda entry: (entry["kind"], entry["ident"]))

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps no process announcements")

    def _announcements(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError(f"{type(self).__name__} keeps no process announcements")

    def close(self) -> None:
        """Release connections and files; the layer must not be used afterwards."""

    async def aclose(self) -> None:
        """Release what the asyncio extension opened for the running event loop."""

    # -- helpers shared by backends -------------------------------------------------------

    @staticmethod
    def _check_message(where: object, message: object) -> None:
        if not isinstance(message, dict):
            raise InvalidMessage(f"message for {where!r} must be a dict, not {type(message).__name__}")
        if RESERVED_CHANNEL_KEY in message:
            raise InvalidMessage(f"message for {where!r} uses the reserved key {RESERVED_CHANNEL_KEY!r}")

    def _prepare(self, channel: str, message: Mapping[str, Any]) -> Prepared:
        check_channel_name(channel)
        self._check_message(channel, message)
        target = non_local_name(channel)
        if target != channel:
            message = {**message, RESERVED_CHANNEL_KEY: channel}
        return target, self.codec.encode(channel, message), self.capacities.lookup(target)

    @staticmethod
    def _receive_names(channels: Sequence[str]) -> list[str]:
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Iterable):
            raise InvalidName(f"channels must be a list of channel names, not {type(channels).__name__}")
        names = list(dict.fromkeys(check_channel_name(name, receive=True) for name in channels))
        if not names:
            raise ValueError("receive() needs at least one channel name")
        return names

    def _decode(self, popped: tuple[str, bytes] | None) -> Received:
        if popped is None:
            return None, None
        target, payload = popped
        try:
            message = self.codec.decode(payload)
        except ValueError as exc:
            logger.error("Dropped an undecodable message from %r: %s", target, exc)
            return None, None
        return message.pop(RESERVED_CHANNEL_KEY, target), message

    # -- storage operations (backends) ----------------------------------------------------

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        raise NotImplementedError

    def _push_window(self, channel: str, target: str, payload: bytes, capacity: int) -> None:
        """A send with a lowered capacity (see ``send``); backends that track paused receivers refuse then too."""
        self._push(target, payload, capacity)

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        delivered = []
        for target, payload, capacity in prepared:
            try:
                self._push(target, payload, capacity)
            except ChannelFull:
                delivered.append(False)
            else:
                delivered.append(True)
        return delivered

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        raise NotImplementedError

    def _exists(self, name: str) -> bool:
        raise NotImplementedError

    def _group_add(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_discard(self, group: str, channel: str) -> None:
        raise NotImplementedError

    def _group_members(self, group: str) -> list[str]:
        raise NotImplementedError

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    # -- asynchronous storage operations: by default the synchronous ones in a thread ------
    # A backend with a native asyncio client overrides these; the public *_async methods above
    # hold the semantics for every backend.

    async def _pop_async(self, names: list[str]) -> tuple[str, bytes] | None:
        """Wait up to the blocking timeout for a message on one of ``names`` (list names)."""
        return await asyncio.to_thread(self._pop, names, True)

    async def _pop_batch_async(self, name: str, limit: int, max_bytes: int) -> list[tuple[str, bytes]]:
        """Wait like ``_pop_async([name])``, then up to ``limit`` messages / ``max_bytes`` of list ``name``."""
        popped = await self._pop_async([name])
        return [] if popped is None else [popped]

    async def _push_async(self, target: str, payload: bytes, capacity: int) -> None:
        await asyncio.to_thread(self._push, target, payload, capacity)

    async def _push_many_async(self, prepared: list[Prepared]) -> list[bool]:
        return await asyncio.to_thread(self._push_many, prepared)

    async def _group_members_async(self, group: str) -> list[str]:
        return await asyncio.to_thread(self._group_members, group)

    async def _push_group_async(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        return await asyncio.to_thread(self._push_group, batches)

    def _global_statistics(self) -> dict[str, int]:
        raise NotImplementedError

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        raise NotImplementedError

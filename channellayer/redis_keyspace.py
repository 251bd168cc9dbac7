"""The asgi_redis 1.4.3 keyspace, with no I/O: key names, shard choice, receive plans, script arguments.

Theory of operation
-------------------
Everything the Redis layer writes is decided here, and nothing here talks to Redis, so one unit
test pins the wire format (reference §3) byte for byte and both I/O paths — the synchronous one of
workers and the asyncio one of interface servers — write identical data because they ask the same
object.

* A channel's messages are a LIST ``<prefix><list name>`` of message-key names; each message is a
  STRING ``<prefix><32 hex>``. A process-specific channel ``x!y`` is stored on the list ``x!``.
* Lists of process-specific (``!``) and single-reader (``?``) channels, and groups, live on the
  shard asgi_redis's CRC32 consistent hash picks; normal channels are sent round-robin and
  received from every shard, starting at a rotating shard.
* Groups are ZSETs ``<prefix>:group:<name>``; counters ``<stats_prefix><list>:messages_count`` and
  ``:channel_full_count`` plus the ``#global#`` pair; the flow key of a paused connection is
  ``<prefix>:flow:<channel>`` and announcements live under ``<prefix>:status`` (keys asgi_redis
  never uses: no channel name contains ``:``).

The round-robin cycles are the only state, and they are I/O-free too.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import itertools
import os
import random
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

__all__ = [
    "CHANNEL_STATS_EXPIRY",
    "GLOBAL_STATS_EXPIRY",
    "GLOBAL_STATS_KEY",
    "Keyspace",
    "ReceivePlan",
    "Scripts",
    "blocking_wait",
    "check_prefix",
    "consistent_hash",
    "parse_hosts",
    "scan_pattern",
]

GLOBAL_STATS_KEY = "#global#"
CHANNEL_STATS_EXPIRY = 3600
GLOBAL_STATS_EXPIRY = 86400

#: ``[(shard index, [list keys to try there]), ...]`` in the order to try the shards.
ReceivePlan = list[tuple[int, list[str]]]
#: ``(KEYS, ARGV)`` of one script call.
ScriptCall = tuple[list[str], list[Any]]


def consistent_hash(value: str, ring_size: int) -> int:
    """asgi_redis's shard index: the low 12 bits of CRC32, cut into ``ring_size`` equal ranges."""
    if ring_size == 1:
        return 0
    return int((binascii.crc32(value.encode("utf8")) & 0xFFF) / (4096 / float(ring_size)))


def parse_hosts(hosts: object, default: Sequence[Any]) -> list[str]:
    """Turn asgi_redis ``hosts`` (tuples and/or URLs) into a list of redis URLs, in ring order."""
    if hosts is None:
        hosts = default
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
        raise ValueError(
            f"hosts must be a list of (host, port) tuples or redis:// URLs, not {type(hosts).__name__} "
            f"{hosts!r}; wrap a single host in a list"
        )
    if not hosts:
        raise ValueError("hosts is an empty list")
    urls = []
    for entry in hosts:
        if isinstance(entry, str):
            if not entry.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"hosts entry {entry!r} must be a redis://, rediss:// or unix:// URL")
            urls.append(entry)
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            host, port = entry
            host = f"[{host}]" if ":" in str(host) else host
            urls.append(f"redis://{host}:{int(port)}/0")
        else:
            raise ValueError(f"hosts entry {entry!r} must be a (host, port) tuple or a URL")
    return urls


def scan_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for every key starting with ``prefix`` (glob characters escaped)."""
    return "".join(f"[{ch}]" if ch in "*?[]\\" else ch for ch in prefix) + "*"


def hashed(name: str) -> bool:
    """Whether ``name`` (a list or group name) lives on one shard chosen by the consistent hash."""
    return "!" in name or "?" in name


class Keyspace:
    """Key names and script arguments of one layer (``prefix``, ``stats_prefix``, ring of ``ring_size``)."""

    def __init__(self, prefix: str, stats_prefix: str, ring_size: int, expiry: int, group_expiry: int) -> None:
        self.prefix = prefix
        self.stats_prefix = stats_prefix
        self.ring_size = ring_size
        self.expiry = expiry
        self.group_expiry = group_expiry
        self._send_cycle = itertools.cycle(range(ring_size))
        self._receive_cycle = itertools.cycle(range(ring_size))
        self.shard_of = functools.lru_cache(maxsize=8192)(self._shard_of)
        self.stats_keys = functools.lru_cache(maxsize=4096)(self._stats_keys)

    hashed = staticmethod(hashed)

    # -- shards ----------------------------------------------------------------------------

    def _shard_of(self, name: str) -> int:
        return consistent_hash(name, self.ring_size)

    def send_shard(self, target: str) -> int:
        """The shard a send to list ``target`` goes to: hashed names by hash, the rest round-robin."""
        return self.shard_of(target) if hashed(target) else next(self._send_cycle)

    def by_send_shard(self, targets: Iterable[str]) -> dict[int, list[int]]:
        """Positions of ``targets`` grouped by the shard each one's send goes to (a batch per shard)."""
        grouped: dict[int, list[int]] = {}
        for position, target in enumerate(targets):
            grouped.setdefault(self.send_shard(target), []).append(position)
        return grouped

    def receive_plan(self, names: list[str]) -> ReceivePlan:
        """Which list keys to try on which shard, starting at a rotating shard; keys shuffled per shard."""
        normal = [self.prefix + n for n in names if not hashed(n)]
        by_shard: dict[int, list[str]] = {}
        for name in names:
            if hashed(name):
                by_shard.setdefault(self.shard_of(name), []).append(self.prefix + name)
        start = next(self._receive_cycle)
        plan = []
        for offset in range(self.ring_size):
            index = (start + offset) % self.ring_size
            keys = by_shard.get(index, []) + normal
            if keys:
                random.shuffle(keys)
                plan.append((index, keys))
        return plan

    def batch_shard(self, name: str) -> int | None:
        """The one shard holding every message of list ``name``, or None when it spreads over a ring."""
        if hashed(name):
            return self.shard_of(name)
        return 0 if self.ring_size == 1 else None

    # -- names -----------------------------------------------------------------------------

    def list_key(self, name: str) -> str:
        return self.prefix + name

    def message_key(self) -> str:
        return self.prefix + os.urandom(16).hex()

    def list_name(self, list_key: bytes | str) -> str:
        """The list (channel) name of a list key as Redis returns it."""
        key = list_key.decode("utf8") if isinstance(list_key, bytes) else list_key
        return key[len(self.prefix) :]

    def group_key(self, group: str) -> str:
        return f"{self.prefix}:group:{group}"

    def flow_key(self, channel: str) -> str:
        # ``::`` as in group keys: no channel name contains ':', so no list key can collide.
        return f"{self.prefix}:flow:{channel}"

    def status_index(self) -> str:
        return f"{self.prefix}:status"

    def status_key(self, member: str) -> str:
        return f"{self.status_index()}:{member}"

    def _stats_keys(self, target: str) -> list[str]:
        s = self.stats_prefix
        return [
            f"{s}{target}:messages_count",
            f"{s}{target}:channel_full_count",
            f"{s}{GLOBAL_STATS_KEY}:messages_count",
            f"{s}{GLOBAL_STATS_KEY}:channel_full_count",
        ]

    def stats_ttl(self, targets: Iterable[str]) -> int:
        """TTL of the per-channel counters: an hour for named channels (a fixed set), but only as long as
        a message for process-specific and single-reader channels: there is one of those per body
        stream (``http.request.body?…``), and an hour's worth of their counters would pile up."""
        return self.expiry + 1 if all(hashed(t) for t in targets) else CHANNEL_STATS_EXPIRY

    def flush_patterns(self) -> list[str]:
        return [scan_pattern(self.prefix), scan_pattern(self.stats_prefix)]

    # -- script calls (channellayer/lua/*.lua name their KEYS and ARGV) ---------------------

    def send_call(self, target: str, payload: bytes, capacity: int, flow_channel: str | None = None) -> ScriptCall:
        """``send.lua``'s keys and args; with ``flow_channel``, a windowed send that honours its flow key."""
        keys = [self.message_key(), self.prefix + target, *self.stats_keys(target)]
        if flow_channel is not None:
            keys.append(self.flow_key(flow_channel))
        return keys, [payload, self.expiry, capacity, self.stats_ttl((target,)), GLOBAL_STATS_EXPIRY]

    def group_calls(self, batches: dict[str, tuple[int, list[bytes]]]) -> dict[int, ScriptCall]:
        """One ``group_send.lua`` call per shard for ``{list: (capacity, payloads)}``."""
        per_shard: dict[int, ScriptCall] = {}
        ttl = self.stats_ttl(batches)  # members are nearly always reply channels
        for target, (capacity, payloads) in batches.items():
            index = self.send_shard(target)
            if index not in per_shard:
                per_shard[index] = ([], [self.expiry, self.stats_prefix, len(self.prefix), ttl, GLOBAL_STATS_EXPIRY])
            keys, args = per_shard[index]
            keys.append(self.prefix + target)
            keys.extend(self.message_key() for _ in payloads)
            args.extend((capacity, len(payloads)))
            args.extend(payloads)
        return per_shard

    def group_expired_before(self, now: float) -> int:
        """Members added before this score have outlived ``group_expiry`` (asgi_redis's rule)."""
        return int(now) - self.group_expiry


class Scripts:
    """The Lua scripts of one format (``channellayer/lua/<prefix><name>.lua``): sources and SHA1s.

    A line ``-- #include other.lua`` is replaced by that file, so helpers shared by several
    scripts are written once (Redis runs each script as one self-contained text). Reads package
    data once when built; never talks to Redis (callers EVALSHA and load on NOSCRIPT).
    """

    def __init__(self, names: Iterable[str], file_prefix: str = "") -> None:
        self._folder = resources.files("channellayer").joinpath("lua")
        self.sources = {name: self._read(f"{file_prefix}{name}.lua") for name in names}
        self.shas = {name: hashlib.sha1(src.encode("utf8")).hexdigest() for name, src in self.sources.items()}

    def _read(self, filename: str, including: tuple[str, ...] = ()) -> str:
        if filename in including:
            raise ValueError(f"Lua include cycle: {' -> '.join((*including, filename))}")
        lines = []
        for line in self._folder.joinpath(filename).read_text(encoding="utf8").splitlines():
            if line.startswith(_INCLUDE):
                lines.append(self._read(line[len(_INCLUDE) :].strip(), (*including, filename)))
            else:
                lines.append(line)
        return "\n".join(lines) + "\n"


_INCLUDE = "-- #include "


def check_prefix(option: str, value: object, forbidden: str = "") -> str:
    """A key prefix option: a non-empty str without any of ``forbidden``; ValueError naming ``option``."""
    if not isinstance(value, str) or not value or any(ch in value for ch in forbidden):
        without = f" without {' or '.join(repr(ch) for ch in forbidden)}" if forbidden else ""
        raise ValueError(f"{option} must be a non-empty str{without}, not {value!r}")
    return value


def blocking_wait(blocking_timeout: float, connection_kwargs: dict[str, Any]) -> float:
    """How long one blocking pop may wait: the blocking timeout, but under the socket timeout."""
    socket_timeout = connection_kwargs.get("socket_timeout")
    return blocking_timeout if not socket_timeout else min(blocking_timeout, socket_timeout * 0.8)

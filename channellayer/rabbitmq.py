"""RabbitMQ channel layer on pika (AMQP 0-9-1): the configuration keys of asgi_rabbitmq.

Design (docs/channel-layers.md, "RabbitMQ"):

- **One queue per list**: a normal or ``?`` channel is the queue of its name; the process-specific
  channels ``prefix!local`` share the queue ``prefix!`` (the full name travels inside the message, as
  on every backend). Queues are declared on first use with ``x-message-ttl`` = ``expiry`` (the broker
  drops unread messages), ``x-max-length`` = the list's capacity with ``x-overflow: reject-publish``
  and ``x-expires`` (a queue nobody used for ``expiry`` + 60 s is removed: its messages have expired
  by then, so the queues of vanished processes and ``?`` channels do not pile up). Non-durable: an
  ASGI message lives a minute, a broker restart loses it like a Redis restart.
- **Sends** go to the default exchange with publisher confirms and ``mandatory``: a nack (the queue
  is at ``x-max-length``) is ChannelFull; a return (the queue is gone) declares it and publishes again.
- **Blocking receive** without polling: ``basic_get`` on each queue first; if all are empty, one
  ``basic_consume`` per queue (prefetch 1, manual ack) and pika waits on the socket until the broker
  pushes a message or ``blocking_timeout`` passes. The first delivery is acked, the consumers are
  cancelled and any other delivery is rejected back to its queue (pika nacks those not yet dispatched).
- **Groups** are kept by the layer, not by exchange bindings: AMQP cannot list bindings (group_channels)
  and one binding delivers one copy per queue, while a process list needs one copy per member channel.
  A group is a queue ``asgi:group:<name>`` holding one message, the membership ``{channel: added at}``.
  Changing or reading it happens under a lock: an exclusive queue ``asgi:lock:<name>``, which only one
  connection can declare and the broker deletes if that connection dies. A group send then publishes
  one message per member list: a single copy as a normal message, several copies for one process list
  as one *batch* message (AMQP type ``asgi.batch``), so the broker accepts all of a list's copies or
  none of them, atomically, by its ``x-max-length``; the receiving layer hands them out one by one.
- **Announcements** (heartbeats of workers and interface servers) are one status board kept like a
  group's membership: the queue ``asgi:status`` holds one message ``{"kind:ident": [expires at,
  info]}``, read and changed under the lock ``asgi:status:lock``. An announce sets its entry and drops
  the expired ones; a reader skips expired entries, so a process that stops heartbeating leaves the
  list after its ttl with no clean-up loop. (A queue per process with ``x-expires`` = ttl does not
  work: every ``basic_get`` by a status reader renews a queue's lease, and AMQP cannot list queues.)
  Expiry compares wall clocks, like the Redis layer's index.
- **Depth and age**: messages carry their send time (AMQP ``timestamp`` in seconds, and the header
  ``x-asgi-sent-ms``). ``channel_depths`` reads a normal channel's head with ``basic_get`` and at once
  ``basic_nack`` with requeue (RabbitMQ puts it back at its original position; if this connection dies
  the broker requeues it): one round trip gives the depth and the oldest message's age. Single-reader
  lists (``!`` and ``?``) are only counted, by a passive ``queue_declare``: while the head is held,
  their reader could be handed the second message first, out of order.
- **Connections** are pika ``BlockingConnection`` objects, one per thread (pika is not thread-safe).
  The asyncio extension runs these calls in worker threads (``asyncio.to_thread``, the base class
  default) instead of a second AMQP client: one code path, and an interface server's waits do not
  block its event loop.

What differs from Redis: ``global_statistics`` counts this process's sends (the broker keeps no such
counter), ``channel_statistics`` reports queued messages but no age (``channel_depths`` has it on normal
channels), a batch counts as one message
against a list's capacity, and ``flush`` deletes the queues and groups this layer object has used
(without the management plugin AMQP cannot list a broker's queues).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgpack
import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from .base import BaseChannelLayer, Prepared
from .errors import BackendUnavailable, ChannelFull
from .names import check_channel_name, non_local_name

__all__ = ["RabbitMQChannelLayer"]

logger = logging.getLogger("channellayer")

T = TypeVar("T")

BATCH_TYPE = "asgi.batch"
GROUP_QUEUE = "asgi:group:"
#: The status board (announcements of workers and interface servers) and its lock; no group name
#: contains ':', so neither can meet a group's queue or lock.
STATUS_QUEUE = "asgi:status"
STATUS_LOCK = "asgi:status:lock"
#: Idle seconds before the broker removes the status board's queue when nobody announces any more.
STATUS_IDLE = 86400
#: Message header holding the send time (integer milliseconds since the epoch).
SENT_HEADER = "x-asgi-sent-ms"
LOCK_QUEUE = "asgi:lock:"
#: Seconds a group operation waits for another process's lock on the same group before giving up.
GROUP_LOCK_WAIT = 10.0
#: Extra idle seconds (beyond ``expiry``) before the broker removes an unused queue.
QUEUE_IDLE_GRACE = 60

_AMQP_ERRORS = (pika.exceptions.AMQPError, OSError)


class _Link:
    """One thread's connection and channel (confirm mode), and the queues it has declared."""

    def __init__(self, parameters: pika.URLParameters) -> None:
        self.connection = pika.BlockingConnection(parameters)
        self.channel = self._open_channel()
        self.declared: set[str] = set()

    def _open_channel(self) -> BlockingChannel:
        channel = self.connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=1)
        return channel

    def reopen_channel(self) -> BlockingChannel:
        """A new channel after the broker closed the last one (an error such as RESOURCE_LOCKED)."""
        if self.channel.is_open:
            self.channel.close()
        self.channel = self._open_channel()
        return self.channel

    @property
    def usable(self) -> bool:
        if not self.connection.is_open:
            return False
        try:
            self.connection.process_data_events(0)  # notices a connection the broker closed meanwhile
        except _AMQP_ERRORS:
            return False
        return bool(self.connection.is_open and self.channel.is_open)

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except _AMQP_ERRORS:
            pass


class RabbitMQChannelLayer(BaseChannelLayer):
    """ASGI 1 layer on a RabbitMQ broker (see the module docstring for the design)."""

    def __init__(self, *, url: str = "amqp://guest:guest@localhost:5672/%2F", **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(url, str) or not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"url must be an amqp:// or amqps:// URL, not {url!r}")
        self.url = url
        self._parameters = pika.URLParameters(url)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._used_queues: set[str] = set()
        self._used_groups: set[str] = set()
        self._buffers: dict[str, deque[tuple[float, bytes]]] = {}
        self._counts = {"messages_count": 0, "channel_full_count": 0}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self._describe()!r}>"

    def _describe(self) -> str:
        p = self._parameters
        return f"amqp://{p.host}:{p.port}/{p.virtual_host}"

    # -- connections ----------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"RabbitMQ at {self._describe()} failed: {type(exc).__name__}: {exc}")

    def _link(self) -> _Link:
        link: _Link | None = getattr(self._local, "link", None)
        if link is not None and link.usable:
            return link
        if link is not None:
            link.close()
        try:
            link = _Link(self._parameters)
        except _AMQP_ERRORS as exc:
            raise self._unavailable(exc) from exc
        self._local.link = link
        with self._lock:
            self._links.append(link)
        return link

    def _call(self, operation: Callable[[_Link], T]) -> T:
        """Run ``operation`` on this thread's link; AMQP failures become BackendUnavailable.

        A 404 (NOT_FOUND) closes the channel before anything happened: a queue this link had
        declared was deleted since (another process's flush, or ``x-expires``). The link forgets
        what it declared and the operation runs once more, declaring afresh.
        """
        link = self._link()
        for attempt in (1, 2):
            try:
                return operation(link)
            except (pika.exceptions.ChannelClosedByBroker, pika.exceptions.ChannelWrongStateError) as exc:
                link.declared.clear()
                try:
                    link.reopen_channel()
                except _AMQP_ERRORS:
                    link.close()
                    raise self._unavailable(exc) from exc
                if attempt == 2 or getattr(exc, "reply_code", None) != 404:
                    raise self._unavailable(exc) from exc
            except _AMQP_ERRORS as exc:
                link.close()
                raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    # -- queues ---------------------------------------------------------------------------

    def _queue_arguments(self, target: str) -> dict[str, Any]:
        return {
            "x-message-ttl": self.expiry * 1000,
            "x-max-length": self.capacities.lookup(target),
            "x-overflow": "reject-publish",
            "x-expires": (self.expiry + QUEUE_IDLE_GRACE) * 1000,
        }

    def _declare(self, link: _Link, target: str) -> None:
        if target in link.declared:
            return
        try:
            link.channel.queue_declare(target, arguments=self._queue_arguments(target))
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 406:
                raise
            # PRECONDITION_FAILED: the queue exists with other arguments (another configuration
            # declared it first). Use it as it is, the broker enforces what it was declared with.
            logger.warning(
                "RabbitMQ queue %r exists with other arguments than this layer's (%s); using it as is",
                target,
                exc.reply_text,
            )
            link.reopen_channel().queue_declare(target, passive=True)
        link.declared.add(target)
        with self._lock:
            self._used_queues.add(target)

    def _publish(self, link: _Link, target: str, body: bytes, kind: str | None = None) -> bool:
        """Publish ``body`` to ``target``'s queue with a confirm; False when the broker refused it (queue full)."""
        self._declare(link, target)
        # The send time travels with the message, for channel_depths: AMQP's ``timestamp`` (whole
        # seconds, what broker tools show) and a header in milliseconds (pika encodes no floats in tables).
        now = time.time()
        properties = pika.BasicProperties(type=kind, timestamp=int(now), headers={SENT_HEADER: int(now * 1000)})
        for attempt in (1, 2):
            try:
                link.channel.basic_publish("", target, body, properties=properties, mandatory=True)
                return True
            except pika.exceptions.NackError:
                return False
            except pika.exceptions.UnroutableError:
                # The queue is gone (flushed, or removed by x-expires): the broker did not keep the
                # message, so declaring the queue and publishing again cannot deliver it twice.
                link.declared.discard(target)
                if attempt == 2:
                    raise
                self._declare(link, target)
        return False  # pragma: no cover - the loop returns or raises

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # -- storage operations ----------------------------------------------------------------

    def _push(self, target: str, payload: bytes, capacity: int) -> None:
        if not self._push_one(target, payload, capacity):
            raise ChannelFull(f"channel {target!r} is at its capacity of {capacity}")

    def _push_one(self, target: str, payload: bytes, capacity: int) -> bool:
        def run(link: _Link) -> bool:
            if capacity < self.capacities.lookup(target):
                # A lowered capacity for this one send (a windowed send): the queue's x-max-length is
                # the channel's own, so compare the queue's length first.
                self._declare(link, target)
                depth = link.channel.queue_declare(target, passive=True).method.message_count
                if depth >= capacity:
                    return False
            return self._publish(link, target, payload)

        delivered = self._call(run)
        self._count("messages_count" if delivered else "channel_full_count")
        return delivered

    def _push_many(self, prepared: list[Prepared]) -> list[bool]:
        return [self._push_one(target, payload, capacity) for target, payload, capacity in prepared]

    def _take_buffered(self, names: list[str]) -> tuple[str, bytes] | None:
        now = time.monotonic()
        with self._lock:
            for name in names:
                buffered = self._buffers.get(name)
                while buffered:
                    expires, payload = buffered.popleft()
                    if expires > now:
                        return name, payload
        return None

    def _unpack(self, target: str, properties: Any, body: bytes) -> tuple[str, bytes] | None:
        if getattr(properties, "type", None) != BATCH_TYPE:
            return target, body
        payloads: list[bytes] = msgpack.unpackb(body)
        if not payloads:
            return None
        if len(payloads) > 1:
            expires = time.monotonic() + self.expiry
            with self._lock:
                self._buffers.setdefault(target, deque()).extend((expires, p) for p in payloads[1:])
        return target, payloads[0]

    def _pop(self, names: list[str], block: bool) -> tuple[str, bytes] | None:
        buffered = self._take_buffered(names)
        if buffered is not None:
            return buffered
        order = random.sample(names, len(names))

        def get(link: _Link) -> tuple[str, Any, bytes] | None:
            for target in order:
                self._declare(link, target)
                method, properties, body = link.channel.basic_get(target, auto_ack=True)
                if method is not None:
                    return target, properties, body
            return None

        got = self._call(get)
        if got is None and block:
            got = self._call(lambda link: self._consume(link, order, self.blocking_timeout))
        if got is None:
            return None
        return self._unpack(*got)

    @staticmethod
    def _consume(link: _Link, queues: list[str], timeout: float) -> tuple[str, Any, bytes] | None:
        """Wait for the broker to push one message from any of ``queues``; no polling."""
        channel = link.channel
        deliveries: list[tuple[str, Any, Any, bytes]] = []
        tags: list[str] = []
        for target in queues:

            def on_message(ch: Any, method: Any, properties: Any, body: bytes, target: str = target) -> None:
                deliveries.append((target, method, properties, body))

            tags.append(channel.basic_consume(target, on_message, auto_ack=False))
        deadline = time.monotonic() + timeout
        try:
            while not deliveries:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                link.connection.process_data_events(time_limit=remaining)
        finally:
            for tag in tags:
                channel.basic_cancel(tag)
        if not deliveries:
            return None
        target, method, properties, body = deliveries[0]
        channel.basic_ack(method.delivery_tag)
        for _, other, _, _ in deliveries[1:]:
            channel.basic_reject(other.delivery_tag, requeue=True)
        return target, properties, body

    def _exists(self, name: str) -> bool:
        def run(link: _Link) -> bool:
            try:
                return bool(link.channel.queue_declare(name, passive=True).method.message_count)
            except pika.exceptions.ChannelClosedByBroker as exc:
                link.reopen_channel()
                if exc.reply_code == 404:
                    return False
                raise

        return self._call(run)

    # -- groups ---------------------------------------------------------------------------

    def _locked_group(self, group: str, change: Callable[[dict[str, float]], bool]) -> dict[str, float]:
        """Run ``change`` on the group's live membership under its lock; store it again if it returns True."""
        with self._lock:
            self._used_groups.add(group)

        def prune(members: dict[str, Any]) -> dict[str, Any]:
            oldest = time.time() - self.group_expiry
            return {channel: added for channel, added in members.items() if added >= oldest}

        return self._locked_state(
            GROUP_QUEUE + group, LOCK_QUEUE + group, self.group_expiry + QUEUE_IDLE_GRACE, prune, change
        )

    def _locked_state(
        self,
        queue: str,
        lock: str,
        idle: float,
        prune: Callable[[dict[str, Any]], dict[str, Any]],
        change: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """Read-modify-write the one message of a bookkeeping ``queue`` (a msgpack dict) under ``lock``.

        ``prune`` drops stale entries; ``change`` edits the live ones and returns True to store them.
        The message is stored again when changed or pruned, else rejected back unchanged. ``idle`` is
        the queue's ``x-expires`` in seconds. Every reader and writer holds the lock, so no one sees
        the queue empty while another holds its message unacked.
        """

        def run(link: _Link) -> dict[str, Any]:
            deadline = time.monotonic() + GROUP_LOCK_WAIT
            while True:
                try:
                    link.channel.queue_declare(lock, exclusive=True, auto_delete=True)
                    break
                except pika.exceptions.ChannelClosedByBroker as exc:
                    link.reopen_channel()
                    if exc.reply_code != 405 or time.monotonic() > deadline:  # 405: RESOURCE_LOCKED
                        raise
                time.sleep(random.uniform(0.002, 0.01))
            try:
                link.channel.queue_declare(queue, arguments={"x-expires": int(idle * 1000)})
                method, _, body = link.channel.basic_get(queue, auto_ack=False)
                stored: dict[str, Any] = msgpack.unpackb(body) if method is not None else {}
                live = prune(stored)
                if change(live) or len(live) != len(stored) or method is None:
                    link.channel.basic_publish("", queue, msgpack.packb(live), mandatory=True)
                    if method is not None:
                        link.channel.basic_ack(method.delivery_tag)
                elif method is not None:
                    link.channel.basic_reject(method.delivery_tag, requeue=True)
                return live
            finally:
                try:
                    link.channel.queue_delete(lock)
                except _AMQP_ERRORS:
                    # The broker deletes an exclusive queue with its connection: closing ours is what
                    # releases the lock for every other process.
                    link.close()

        return self._call(run)

    def _group_add(self, group: str, channel: str) -> None:
        def add(members: dict[str, float]) -> bool:
            members[channel] = time.time()
            return True

        self._locked_group(group, add)

    def _group_discard(self, group: str, channel: str) -> None:
        self._locked_group(group, lambda members: members.pop(channel, None) is not None)

    def _group_members(self, group: str) -> list[str]:
        return list(self._locked_group(group, lambda members: False))

    def _push_group(self, batches: dict[str, tuple[int, list[bytes]]]) -> int:
        def run(link: _Link) -> int:
            queued = 0
            for target, (_, payloads) in batches.items():
                if len(payloads) == 1:
                    delivered = self._publish(link, target, payloads[0])
                else:
                    delivered = self._publish(link, target, msgpack.packb(payloads), BATCH_TYPE)
                self._count("messages_count" if delivered else "channel_full_count", len(payloads))
                queued += len(payloads) if delivered else 0
            return queued

        return self._call(run)

    # -- flush / statistics ---------------------------------------------------------------

    def _flush(self) -> None:
        with self._lock:
            queues = sorted(self._used_queues)
            groups = sorted(self._used_groups)
            self._used_queues.clear()
            self._used_groups.clear()
            self._buffers.clear()
            links = list(self._links)
        for link in links:
            link.declared.clear()

        def run(link: _Link) -> None:
            for queue in [*queues, *(GROUP_QUEUE + g for g in groups), STATUS_QUEUE]:
                link.channel.queue_delete(queue)

        self._call(run)

    def _global_statistics(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _channel_statistics(self, target: str) -> dict[str, int | float]:
        def run(link: _Link) -> int:
            try:
                return int(link.channel.queue_declare(target, passive=True).method.message_count)
            except pika.exceptions.ChannelClosedByBroker as exc:
                link.reopen_channel()
                if exc.reply_code == 404:
                    return 0
                raise

        pending = self._call(run)
        with self._lock:
            pending += len(self._buffers.get(target, ()))
        return {"messages_pending": pending}

    def channel_depths(self, channels: Sequence[str]) -> dict[str, dict[str, float | None]]:
        """One broker call per channel: its ready messages and, on normal channels, the oldest one's age.

        A normal channel's head is read with ``basic_get`` (no ack) and at once ``basic_nack``-ed
        with requeue: ``Get-Ok`` carries the count of the messages behind it, the head carries its
        send time, and RabbitMQ puts a requeued message back at its original position (a consumer
        that dies holding one has it requeued by the broker too, so nothing is lost). Meanwhile a
        concurrent receiver can be handed the second message first; normal channels promise no
        order between their consumers anyway, but a process-specific or ``?`` list has a single
        reader that relies on it (a response's chunks), so those are only counted (passive
        ``queue_declare``) and report ``oldest_age`` None. Messages this process buffered from a
        batch count towards the depth.
        """
        targets = {channel: non_local_name(check_channel_name(channel, receive=True)) for channel in channels}

        def run(link: _Link, target: str) -> tuple[int, float | None]:
            try:
                if "!" in target or "?" in target:
                    return int(link.channel.queue_declare(target, passive=True).method.message_count), None
                method, properties, _ = link.channel.basic_get(target, auto_ack=False)
            except pika.exceptions.ChannelClosedByBroker as exc:
                link.declared.discard(target)
                link.reopen_channel()
                if exc.reply_code == 404:  # no such queue: nothing was sent to it lately
                    return 0, None
                raise
            if method is None:
                return 0, None
            link.channel.basic_nack(method.delivery_tag, requeue=True)
            return int(method.message_count) + 1, self._sent_at(properties)

        depths: dict[str, dict[str, float | None]] = {}
        now = time.time()
        for channel, target in targets.items():
            depth, sent = self._call(functools.partial(run, target=target))
            with self._lock:
                depth += len(self._buffers.get(target, ()))
            depths[channel] = {"depth": depth, "oldest_age": None if sent is None else max(0.0, now - sent)}
        return depths

    @staticmethod
    def _sent_at(properties: Any) -> float | None:
        """A message's send time: the millisecond header if present, else AMQP's whole-second timestamp."""
        sent = (getattr(properties, "headers", None) or {}).get(SENT_HEADER)
        if isinstance(sent, int) and not isinstance(sent, bool):
            return sent / 1000
        stamp = getattr(properties, "timestamp", None)
        return float(stamp) if isinstance(stamp, int) else None

    # -- announcements --------------------------------------------------------------------

    def _announce(self, kind: str, ident: str, info: str, ttl: float) -> None:
        # One board for all processes, {"kind:ident": [expires at, info]}, kept like a group's
        # membership: one message in the queue asgi:status, changed under the lock asgi:status:lock.
        # Each announce prunes the expired entries; readers skip them, so a process that stops
        # heartbeating disappears after its ttl without anyone cleaning up.
        member = f"{kind}:{ident}"

        def change(board: dict[str, Any]) -> bool:
            board[member] = [time.time() + ttl, info]
            return True

        self._locked_state(STATUS_QUEUE, STATUS_LOCK, STATUS_IDLE, self._live_announcements, change)

    def _announcements(self) -> list[tuple[str, str, str]]:
        board = self._locked_state(
            STATUS_QUEUE, STATUS_LOCK, STATUS_IDLE, self._live_announcements, lambda board: False
        )
        found = []
        for member, (_, info) in board.items():
            kind, _, ident = member.partition(":")
            found.append((kind, ident, str(info)))
        return found

    @staticmethod
    def _live_announcements(board: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        return {
            member: entry
            for member, entry in board.items()
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], (int, float)) and entry[0] > now
        }

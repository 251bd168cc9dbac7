"""What a running deployment looks like from its channel layer: depths, workers, interface servers.

Theory of operation
-------------------
Processes announce themselves with :class:`Heartbeat`: a daemon thread that calls
``layer.announce(kind, ident, info, ttl)`` every ``interval`` seconds (waiting on an Event, so a
stop is immediate and nothing spins) with a TTL of three intervals, so a process that died
disappears within three heartbeats. ``ident`` is ``host:pid``.

:func:`snapshot` reads everything the status view shows in a few round trips: the announcements,
then ``layer.channel_depths`` for the channels worth watching — the ones a Channels 1 interface
server feeds (:data:`KNOWN_CHANNELS`), every channel a live worker says it listens on, and any the
caller names (the layer is never scanned for keys). Given the previous snapshot it adds rates:
messages sent to each channel per second (from the layer's per-channel counters where it keeps
them) and messages each worker handled per second.

It warns about *unconsumed* channels: one with messages queued, or ``http.request`` (which every
worker's routing serves), that no live worker listens on — requests there wait until they expire.

:func:`render` is the terminal view, :func:`to_json` the one for scripts, and
:class:`StatusCollector` exports the same figures as Prometheus gauges (``channels_channel_depth``
and friends) for dashboards and autoscalers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = ["KNOWN_CHANNELS", "Heartbeat", "StatusCollector", "identity", "render", "snapshot", "to_json"]

logger = logging.getLogger("channellayer")

#: The channels interface servers send to; watched even when no worker announces them.
KNOWN_CHANNELS = ("http.request", "http.disconnect", "websocket.connect", "websocket.receive", "websocket.disconnect")
#: Channels that must always have a consumer (every worker's routing serves http.request).
REQUIRED_CHANNELS = ("http.request",)


def identity() -> str:
    """``host:pid`` of this process: the ident it announces itself under."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Announce ``info()`` as ``(kind, ident)`` every ``interval`` seconds from a daemon thread.

    ``info`` is called on the heartbeat thread; it must only read (counters, lengths). A failed
    announce is logged once per outage and retried at the next beat; it never reaches the caller.
    """

    def __init__(
        self,
        layer: Any,
        kind: str,
        info: Callable[[], Mapping[str, Any]],
        interval: float = 5.0,
        ident: str | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat interval must be positive, not {interval!r}")
        self.layer = layer
        self.kind = kind
        self.info = info
        self.interval = interval
        self.ident = ident or identity()
        self.started = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat_once(self) -> bool:
        """Announce now; True if the layer took it."""
        try:
            info = {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": self.started,
                "last_seen": time.time(),
                "interval": self.interval,
                **self.info(),
            }
            self.layer.announce(self.kind, self.ident, info, self.interval * 3)
        except NotImplementedError as exc:
            logger.info("Not announcing this %s: %s", self.kind, exc)
            self._stop.set()  # the backend will not learn to keep them
            return False
        except Exception as exc:
            if not self._failing:
                logger.warning("Could not announce this %s on the channel layer: %s", self.kind, exc)
            self._failing = True
            return False
        if self._failing:
            logger.info("Announcing this %s on the channel layer again", self.kind)
        self._failing = False
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.kind}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat_once()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)


def _channel_counts(layer: Any, channels: Iterable[str]) -> dict[str, int]:
    """Messages ever sent per channel, where the layer keeps such counters (else empty)."""
    if "statistics" not in getattr(layer, "extensions", ()):
        return {}
    counts = {}
    for channel in channels:
        try:
            value = layer.channel_statistics(channel).get("messages_count")
        except Exception:
            return {}
        if isinstance(value, int):
            counts[channel] = value
    return counts


def _rate(now: float, value: float | None, before: float | None, then: float | None) -> float | None:
    if value is None or before is None or then is None or now <= then or value < before:
        return None
    return (value - before) / (now - then)


def snapshot(
    layer: Any, channels: Sequence[str] = (), previous: Mapping[str, Any] | None = None, rates: bool = True
) -> dict[str, Any]:
    """The state of the deployment on ``layer`` (see the module docstring), as plain JSON-able data.

    ``rates=False`` skips the per-channel send counters (one ``channel_statistics`` call per channel),
    leaving ``sent`` and ``rate`` None: the exporter's scrapes need only depths and heartbeats.
    """
    now = time.time()
    try:
        announced = layer.announcements()
        heartbeats = True
    except NotImplementedError:
        announced, heartbeats = [], False
    workers = [entry for entry in announced if entry["kind"] == "worker"]
    interfaces = [entry for entry in announced if entry["kind"] == "interface"]
    watched = sorted({*KNOWN_CHANNELS, *channels, *(c for w in workers for c in w.get("channels", ()))})
    depths = layer.channel_depths(watched)
    counts = _channel_counts(layer, watched) if rates else {}
    before = previous or {}
    then = before.get("time")
    old_channels = {entry["name"]: entry for entry in before.get("channels", ())}
    old_workers = {entry["ident"]: entry for entry in before.get("workers", ())}
    rows = []
    unconsumed = []
    for name in watched:
        consumers = [w["ident"] for w in workers if name in w.get("channels", ())]
        depth = depths[name]["depth"] or 0
        row = {
            "name": name,
            "depth": depth,
            "oldest_age": depths[name]["oldest_age"],
            "sent": counts.get(name),
            "rate": _rate(now, counts.get(name), old_channels.get(name, {}).get("sent"), then),
            "consumers": consumers,
        }
        rows.append(row)
        if heartbeats and not consumers and (depth > 0 or name in REQUIRED_CHANNELS):
            unconsumed.append(name)
    for worker in workers:
        worker["age"] = max(0.0, now - float(worker.get("last_seen", now)))
        worker["rate"] = _rate(now, worker.get("served"), old_workers.get(worker["ident"], {}).get("served"), then)
    for interface in interfaces:
        interface["age"] = max(0.0, now - float(interface.get("last_seen", now)))
    warnings = [
        f"no live worker consumes {name} ({depths[name]['depth'] or 0} message(s) queued)" for name in unconsumed
    ]
    if not heartbeats:
        warnings.append(
            f"{type(layer).__name__} keeps no heartbeats: live workers and interface servers, and "
            "channels without a consumer, cannot be shown"
        )
    return {
        "time": now,
        "channels": rows,
        "workers": workers,
        "interfaces": interfaces,
        "unconsumed": unconsumed,
        "heartbeats": heartbeats,
        "warnings": warnings,
    }


def to_json(state: Mapping[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, indent=2)


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    rows = [list(headers), *map(list, rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def render(state: Mapping[str, Any]) -> str:
    """The terminal view of a :func:`snapshot`: warnings first, then channels, workers, interface servers."""
    lines = [f"channels-classic status at {time.strftime('%H:%M:%S', time.localtime(state['time']))}"]
    lines += [f"WARNING: {warning}" for warning in state["warnings"]]
    lines += ["", "Channels"]
    lines += _table(
        ("channel", "depth", "oldest s", "sent/s", "consumers"),
        (
            (c["name"], str(c["depth"]), _num(c["oldest_age"]), _num(c["rate"]), str(len(c["consumers"])))
            for c in state["channels"]
        ),
    )
    lines += ["", f"Workers ({len(state['workers'])} live)"]
    lines += _table(
        ("worker", "channels", "served", "msg/s", "seen s ago", "version"),
        (
            (
                w["ident"],
                ",".join(w.get("channels", ())),
                str(w.get("served", "-")),
                _num(w["rate"]),
                _num(w["age"]),
                str(w.get("version", "-")),
            )
            for w in state["workers"]
        ),
    )
    lines += ["", f"Interface servers ({len(state['interfaces'])} live)"]
    lines += _table(
        ("server", "prefix", "connections", "websockets", "seen s ago"),
        (
            (
                i["ident"],
                str(i.get("prefix", "-")),
                str(i.get("connections", "-")),
                str(i.get("websockets", "-")),
                _num(i["age"]),
            )
            for i in state["interfaces"]
        ),
    )
    return "\n".join(lines) + "\n"


class StatusCollector:
    """A Prometheus collector: each scrape takes a :func:`snapshot` and reports it as gauges."""

    def __init__(self, layer: Any, channels: Sequence[str] = ()) -> None:
        self.layer = layer
        self.channels = channels
        self.last: dict[str, Any] | None = None

    def describe(self) -> list[Any]:
        return []  # nothing is collected at registration; the families are known at scrape time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        state = self.last = snapshot(self.layer, self.channels, self.last, rates=False)
        depth = GaugeMetricFamily("channels_channel_depth", "Messages queued on the channel", labels=["channel"])
        age = GaugeMetricFamily(
            "channels_channel_oldest_age_seconds", "Age of the oldest queued message", labels=["channel"]
        )
        unconsumed = GaugeMetricFamily(
            "channels_channel_unconsumed",
            "1 when the channel needs a consumer and no live worker listens on it",
            labels=["channel"],
        )
        consumers = GaugeMetricFamily(
            "channels_channel_consumers", "Live workers listening on the channel", labels=["channel"]
        )
        warned = set(state["unconsumed"])
        for row in state["channels"]:
            depth.add_metric([row["name"]], row["depth"])
            age.add_metric([row["name"]], row["oldest_age"] or 0.0)
            unconsumed.add_metric([row["name"]], 1.0 if row["name"] in warned else 0.0)
            consumers.add_metric([row["name"]], len(row["consumers"]))
        yield from (depth, age, unconsumed, consumers)
        yield GaugeMetricFamily("channels_workers_live", "Workers with a live heartbeat", value=len(state["workers"]))
        yield GaugeMetricFamily(
            "channels_interface_servers_live", "Interface servers with a live heartbeat", value=len(state["interfaces"])
        )

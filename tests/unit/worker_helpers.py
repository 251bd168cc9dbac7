"""Shared helpers for the worker unit tests: a memory layer installed as the ``default`` alias, a fake clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from tests.djangoapp import ensure_django

ensure_django()

from channellayer import MemoryChannelLayer  # noqa: E402
from worker.asgi import ChannelLayerWrapper, channel_layers  # noqa: E402
from worker.worker import Worker  # noqa: E402


@contextlib.contextmanager
def memory_layer(routing: Any, alias: str = "default", **options: Any) -> Iterator[ChannelLayerWrapper]:
    """Install a fresh in-memory layer with ``routing`` as ``alias`` for the block."""
    wrapper = ChannelLayerWrapper(MemoryChannelLayer(**options), alias, routing)
    old = channel_layers.set(alias, wrapper)
    try:
        yield wrapper
    finally:
        channel_layers.set(alias, old)


def run_pending(wrapper: ChannelLayerWrapper, channels: list[str] | None = None, limit: int = 100) -> int:
    """Handle every message waiting on the routed channels with a Worker; return how many."""
    worker = Worker(wrapper, signal_handlers=False)
    names = channels or sorted(wrapper.router.channels)
    handled = 0
    while handled < limit:
        channel, content = wrapper.receive(names, block=False)
        if channel is None:
            return handled
        worker.handle(channel, content)
        handled += 1
    raise AssertionError(f"more than {limit} messages: a consumer loops")


def drain(wrapper: ChannelLayerWrapper, channel: str) -> list[dict[str, Any]]:
    """Every message waiting on ``channel`` (a reply channel), in order."""
    out = []
    while True:
        got, content = wrapper.receive([channel], block=False)
        if got is None:
            return out
        out.append(content)


class FakeTime:
    """A clock that only moves when someone sleeps on it, calling ``on_sleep`` after each sleep."""

    def __init__(self, on_sleep: Callable[[], Any] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()

    def install(self, monkeypatch: Any, owner: type) -> FakeTime:
        """Make ``owner.sleep`` / ``owner.clock`` (static methods) this fake's, for the test."""
        monkeypatch.setattr(owner, "clock", staticmethod(self.clock))
        monkeypatch.setattr(owner, "sleep", staticmethod(self.sleep))
        return self

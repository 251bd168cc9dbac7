"""A layer's own event loop in one background thread, so synchronous callers can use its asyncio code.

The Redis layers keep one implementation of the blocking wait (several BLPOPs at once on a ring,
the first pop wins, the losers are released and their pops put back): the asyncio one. A
synchronous ``receive(block=True)`` — a worker's — runs that coroutine here instead of starting
threads of its own. The thread starts on first use, serves every thread of the process at once (a
``runworker --threads 4`` pool shares it), and stops on :meth:`close`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["Portal"]

T = TypeVar("T")


class Portal:
    """Runs coroutines on a private event loop thread, started lazily; fork-aware (a child starts its own)."""

    def __init__(self, name: str = "channellayer-portal") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(target=self._serve, args=(loop, started), name=self.name, daemon=True)
                thread.start()
                started.wait()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the portal's loop and return its result (or raise its exception) here."""
        if self._loop is not None and threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("Portal.call() from the portal's own thread would wait for itself")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self, cleanup: Callable[[], Awaitable[None]] | None = None, timeout: float = 5.0) -> None:
        """Run ``cleanup()`` on the loop (closing what it opened there), then stop the thread."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None or self._pid != os.getpid() or not loop.is_running():
            return
        if cleanup is not None:
            done = asyncio.run_coroutine_threadsafe(_awaited(cleanup), loop)
            try:
                done.result(timeout)
            except Exception:
                pass  # closing: a backend that is down has nothing left to release
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout)


async def _awaited(function: Callable[[], Awaitable[None]]) -> None:
    await function()

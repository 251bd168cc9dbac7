"""channellayer.portal: synchronous callers run coroutines on one background event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from channellayer.portal import Portal


def test_call_returns_results_and_raises_errors_in_the_caller() -> None:
    """A coroutine's result comes back to the calling thread, and so does its exception."""
    portal = Portal()

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def fail() -> None:
        raise KeyError("nope")

    try:
        assert portal.call(double(21)) == 42
        with pytest.raises(KeyError, match="nope"):
            portal.call(fail())
    finally:
        portal.close()


def test_one_loop_thread_serves_every_thread_concurrently() -> None:
    """Several threads waiting at once share the portal's single loop thread, and their waits overlap."""
    portal = Portal()
    loops: set[int] = set()
    started = threading.Barrier(4)

    async def wait() -> None:
        loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.3)

    def worker() -> None:
        started.wait()
        portal.call(wait())

    before = threading.active_count()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        import time

        begun = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - begun < 1.0  # 4 x 0.3 s would be 1.2 s in series
        assert len(loops) == 1
        assert threading.active_count() == before + 1  # the portal's thread, and no other
    finally:
        portal.close()
    assert threading.active_count() == before


def test_close_runs_cleanup_on_the_loop_and_a_later_call_starts_again() -> None:
    """close(cleanup) awaits cleanup on the portal's loop, stops the thread; the next call starts a new one."""
    portal = Portal()
    ran_on: list[str] = []

    async def where() -> str:
        return threading.current_thread().name

    async def cleanup() -> None:
        ran_on.append(threading.current_thread().name)

    first = portal.call(where())
    portal.close(cleanup)
    assert ran_on == [first]
    assert portal.call(where()) == first  # same name, a new thread
    portal.close()


def test_call_from_the_portal_thread_is_refused() -> None:
    """A coroutine on the portal that calls back into it would wait for itself: RuntimeError instead."""
    portal = Portal()

    async def inner() -> None:
        return None

    async def reenter() -> None:
        portal.call(inner())

    try:
        with pytest.raises(RuntimeError, match="wait for itself"):
            portal.call(reenter())
    finally:
        portal.close()

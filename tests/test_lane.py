"""Lane: blocking calls on dedicated threads, results handed back to the event loop in batches."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest

from storehouse.lane import Lane


async def test_returns_the_result_and_runs_off_the_event_loop() -> None:
    lane = Lane(1, "test")
    loop_thread = threading.get_ident()
    assert await lane.run(threading.get_ident) != loop_thread
    assert await lane.run(lambda: 6 * 7) == 42
    lane.close()


async def test_raises_what_the_call_raised() -> None:
    lane = Lane(1, "test")

    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        await lane.run(fail)
    assert await lane.run(lambda: "still serving") == "still serving"
    lane.close()


async def test_many_concurrent_calls_each_get_their_own_result() -> None:
    lane = Lane(2, "test")
    results = await asyncio.gather(*(lane.run(functools.partial(pow, n, 2)) for n in range(2000)))
    assert results == [n * n for n in range(2000)]
    lane.close()


async def test_a_slow_call_does_not_hold_back_calls_queued_on_another_thread() -> None:
    lane = Lane(2, "test")
    slow = asyncio.ensure_future(lane.run(lambda: time.sleep(1.0)))
    await asyncio.sleep(0.05)  # the slow call has a thread
    started = time.monotonic()
    assert await lane.run(lambda: "quick") == "quick"
    assert time.monotonic() - started < 0.5
    await slow
    lane.close()


async def test_a_cancelled_caller_does_not_break_the_lane() -> None:
    lane = Lane(1, "test")
    release = threading.Event()
    waiting = asyncio.ensure_future(lane.run(release.wait))
    await asyncio.sleep(0.05)
    waiting.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await lane.run(lambda: "after") == "after"
    lane.close()


async def test_a_closed_lane_refuses_new_calls() -> None:
    lane = Lane(1, "test")
    assert await lane.run(lambda: 1) == 1
    lane.close()
    with pytest.raises(RuntimeError, match="closed"):
        await lane.run(lambda: 2)


def test_serves_calls_from_two_event_loops_in_turn() -> None:
    lane = Lane(1, "test")
    assert asyncio.run(lane.run(lambda: "first loop")) == "first loop"
    assert asyncio.run(lane.run(lambda: "second loop")) == "second loop"
    lane.close()

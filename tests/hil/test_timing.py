"""Precise waits on the event loop (hil.timing): never early, within tens of µs, and the
inter-frame gap measured from the line's last activity."""

from __future__ import annotations

import asyncio
import statistics

from hil.timing import sleep_until


async def test_a_precise_wait_is_never_early_and_far_closer_than_asyncio_timers():
    loop = asyncio.get_running_loop()
    late_precise, late_plain = [], []
    for _ in range(20):
        for precise, out in ((True, late_precise), (False, late_plain)):
            deadline = loop.time() + 1.75e-3  # t3.5 above 19200 Bd
            await sleep_until(deadline, precise)
            out.append(loop.time() - deadline)
    assert min(late_precise) >= 0.0 and min(late_plain) >= 0.0
    assert statistics.median(late_precise) < 3e-4  # plain asyncio rounds up to a millisecond
    assert statistics.median(late_precise) < statistics.median(late_plain)


async def test_loop_lag_counts_a_stall_as_lost_time_and_an_idle_loop_as_none():
    import time

    from hil.timing import LoopLag

    loop = asyncio.get_running_loop()
    lag, stop = LoopLag(), asyncio.Event()
    task = loop.create_task(lag.run(stop))
    try:
        for _ in range(5):  # an idle loop: the monitor wakes on time
            await asyncio.sleep(lag.tick_s)
        idle = lag.lost(loop.time())
        time.sleep(0.2)  # the stimulus: the loop held up, as by a full garbage collection
        during = lag.lost(loop.time())  # read before the monitor has run again: still seen
        await asyncio.sleep(2 * lag.tick_s)
        after = lag.lost(loop.time())
    finally:
        stop.set()
        await task
    assert idle < 0.02
    assert 0.15 <= during - idle <= 0.25 and after >= during - 0.01

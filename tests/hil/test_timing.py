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

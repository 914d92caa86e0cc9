"""Waiting until an instant on the event loop, to the millisecond or to the tens of microseconds.

asyncio's timers wake through ``epoll_wait``, whose timeout is whole milliseconds rounded up: a
1.75 ms Modbus RTU inter-frame gap (t3.5 above 19200 Bd) becomes 2-3 ms, and the last byte of a
paced answer arrives up to a millisecond late. At 115200 Bd a 10-register read is 6.4 ms on the
wire with both gaps, so those roundings cost a compliant master a fifth of its rate
(``bench/hil_poll.py``). :func:`sleep_until` with ``precise=True`` sleeps to within a millisecond
of the instant (rounded up, so never past it), then yields to the loop (``asyncio.sleep(0)``,
other tasks run) until the instant: at most a millisecond of spinning per wait, bounded CPU, and
the wait ends within the loop's own latency (tens of µs) of its instant, never before it.
"""

from __future__ import annotations

import asyncio

SPIN_S = 1e-3  # the last stretch of a precise wait is spun: epoll's rounding is below this


async def sleep_until(deadline: float, precise: bool = False) -> None:
    """Return at loop time ``deadline`` or after (``precise``: within tens of µs)."""
    loop = asyncio.get_running_loop()
    wait = deadline - loop.time()
    if not precise:
        if wait > 0:
            await asyncio.sleep(wait)
        return
    if wait > SPIN_S:
        await asyncio.sleep(wait - SPIN_S)
    while loop.time() < deadline:
        await asyncio.sleep(0)


class LoopLag:
    """How long the event loop was not there to run its tasks: a full garbage collection, the
    OPC UA address space being built, a console drawing a screen in the same process (the GIL).

    A monitor task (:meth:`run`) wakes every ``tick_s``; each wake-up later than ``tolerance_s``
    adds its lateness to the lost time. :meth:`lost` also counts the wake-up that is overdue now,
    so a reader that runs before the monitor after a stall sees the stall too. The pollers take
    the lost time off a board's silence (:meth:`hil.poller.BoardPoller.link_state`): a board is
    not offline because the twin could not listen.
    """

    def __init__(self, tick_s: float = 0.02, tolerance_s: float = 0.005) -> None:
        self.tick_s, self.tolerance_s = tick_s, tolerance_s
        self._lost = 0.0
        self._due: float | None = None

    def lost(self, now: float) -> float:
        """Seconds lost up to ``now`` (loop time, i.e. ``time.monotonic()``) since the start."""
        if self._due is None:
            return self._lost
        late = now - self._due
        return self._lost + (late if late > self.tolerance_s else 0.0)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.tick_s
        try:
            while not stop.is_set():
                await asyncio.sleep(max(0.0, self._due - loop.time()))
                now = loop.time()
                late = now - self._due
                if late > self.tolerance_s:
                    self._lost += late
                self._due = now + self.tick_s
        finally:
            self._due = None

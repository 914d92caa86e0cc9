"""What every stub board shares: its core, its own sample clock, its fault API, start and close.

A stub is an async context manager::

    async with make_stub(board, source) as stub:      # firmware_stubs.make_stub
        print(stub.port)                               # a pty path, or the TCP port
        await stub.inject_fault("sensor_drift", "power.bus.voltage_v", {"rate_per_h": 5})

``sample_rate_hz`` (default: the board file's) sets the sampling task; 0 leaves sampling to
:meth:`StubBase.sample`, which tests call to pin the instant a board samples its source.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from firmware_stubs.core import BoardCore, CommandCallback
from firmware_stubs.sources import Source
from hil.boardfile import Board


class StubBase:
    def __init__(self, board: Board, source: Source, *, on_command: CommandCallback | None = None,
                 seed: int | None = None, noise: bool = True, pace: bool = False,
                 turnaround_ms: float | None = None, sample_rate_hz: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.board = board
        self.core = BoardCore(board, source, on_command=on_command, seed=seed, noise=noise,
                              clock=clock)
        self._changed = asyncio.Event()
        self.core.on_change = self._changed.set
        self.pace = pace
        ta = board.link.turnaround_ms if turnaround_ms is None else turnaround_ms
        self.turnaround_s = ta / 1000.0
        self.sample_rate_hz = board.sample_rate_hz if sample_rate_hz is None else sample_rate_hz
        self.port: Any = None  # pty/device path (serial) or TCP port number
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    # --- life cycle ----------------------------------------------------------------------
    async def start(self) -> StubBase:
        self.core.sample()
        await self._open()
        if self.sample_rate_hz > 0:
            self.spawn(self._sampler())
        return self

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self._close()

    async def __aenter__(self) -> StubBase:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sampler(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.sample_rate_hz
        due = loop.time()
        while True:
            due += period
            await asyncio.sleep(max(0.0, due - loop.time()))
            if due < loop.time() - period:  # fell behind (a slow source): skip, don't burst
                due = loop.time()
            self.core.sample()

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _faults_changed(self) -> None:
        """Transports with state to change on link faults (TCP listener) override this."""

    # --- the run-time API ----------------------------------------------------------------
    def sample(self) -> None:
        """Sample the source now (as the board's own clock would)."""
        self.core.sample()

    async def inject_fault(self, kind: str, target: str = "",
                           params: dict[str, Any] | None = None) -> int:
        """Start a fault (see :mod:`firmware_stubs.faults`); returns its id (0 for reset)."""
        fid = self.core.inject_fault(kind, target, params)
        await self._faults_changed()
        return fid

    async def clear_fault(self, fault_id: int | None = None, kind: str | None = None) -> None:
        """Clear a fault by id, all faults of a kind, or every fault."""
        self.core.faults.remove(fault_id, kind)
        await self._faults_changed()

    def list_faults(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.core.faults.active]

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.core.counters)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 2.0) -> None:
        """Return once ``predicate()`` holds, re-checked each time a counter moves."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def answer_delay_s(self) -> float:
        """The RS-485 turnaround plus a slow fault's delay, before an answer starts."""
        return self.core.faults.delay_s() + self.turnaround_s

    async def answer_delay(self) -> bool:
        """Apply dropout, slow-answer and turnaround before an answer; False: don't answer."""
        f = self.core.faults
        if f.link_down or f.drops():
            return False
        delay = self.answer_delay_s()
        if delay > 0:
            await asyncio.sleep(delay)
        return True

"""Modbus RTU slave on a serial line (a pty pair by default), as a board's firmware frames it.

Frames end with 3.5 characters of silence (1.75 ms above 19200 Bd, or ``[link]
interframe_ms``). With pacing, the silence is timed from when the request's last byte would
have left a real wire (``first byte + n × character``), not from when the pty delivered it.
Frames with a bad CRC count as ``frame_errors``; frames for other device ids as
``foreign_frames``; neither is answered. Device id 0 (broadcast) is executed, not answered.
"""

from __future__ import annotations

import asyncio
from collections import deque

from firmware_stubs.base import StubBase
from firmware_stubs.modbus import process, rtu_check
from firmware_stubs.serial_link import SerialLine
from hil.modbus import rtu_frame


class RtuStub(StubBase):
    def __init__(self, *args: object, device: str | None = None, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.device = device
        self.line: SerialLine | None = None
        self._buf = bytearray()
        self._wire_end = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._ends: deque[float] = deque()  # paced: when each queued frame ended on the wire

    async def _open(self) -> None:
        ln = self.board.link
        self.line = SerialLine(self._on_bytes, device=self.device, baud=ln.baud,
                               bytesize=ln.bytesize, parity=ln.parity, stopbits=ln.stopbits,
                               pace=self.pace)
        self.port = self.line.open()
        self.t35 = (ln.interframe_ms / 1000.0 if ln.interframe_ms
                    else 1.75e-3 if ln.baud > 19200 else 3.5 * self.line.char_s)
        self.spawn(self._worker())

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.line is not None:
            self.line.close()

    def _on_bytes(self, data: bytes, t: float) -> None:
        if self.core.faults.link_down:
            return
        assert self.line is not None
        if self.pace:
            self._wire_end = max(self._wire_end, t) + len(data) * self.line.char_s
        else:
            self._wire_end = t
        self._buf += data
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(self._wire_end + self.t35,
                                                         self._frame_end)

    def _frame_end(self) -> None:
        self._timer = None
        frame, self._buf = bytes(self._buf), bytearray()
        if self.pace:
            self._ends.append(self._wire_end + self.t35)  # the frame's end as on a wire
        self._frames.put_nowait(frame)

    async def _worker(self) -> None:
        while True:
            await self._handle(await self._frames.get())

    async def _handle(self, frame: bytes) -> None:
        core = self.core
        if not rtu_check(frame):
            core.count("frame_errors")
            return
        dev = frame[0]
        if dev not in (self.board.device_id, 0):
            core.count("foreign_frames")
            return
        core.count("rx_frames")
        ends = self._ends.popleft() if self._ends else None
        response = await process(core, frame[1:-2])
        if dev == 0 or not await self.answer_delay():
            return
        assert self.line is not None
        # a real UART starts the answer t3.5 + turnaround (+ a slow fault's delay) after the
        # request's end; asyncio's rounded-up timers woke us later than that: catch up
        start = None if ends is None else ends + self.answer_delay_s()
        await self.line.write(core.faults.garbage() or rtu_frame(dev, response),
                              not_before=start)

"""A serial line for stub boards: a pseudo-terminal pair or a real device, with baud pacing.

A pty moves bytes as fast as the kernel copies them; with ``pace`` the stub sends byte k of a
write no earlier than ``start + (k + 1) × character time`` (character = start bit, data bits,
parity, stop bits), so frames last on a pty as long as on a wire. asyncio timers wake about
once a millisecond, so bytes leave in small bursts, each on or after its due time, the last one
timed to tens of µs.

Like a UART with nobody listening, the line never blocks its board: if the far end does not read
and the pty buffer stays full for :data:`WRITE_STALL_S`, the rest of the write is dropped.
"""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Callable

import serial

from hil.timing import SPIN_S, sleep_until

WRITE_STALL_S = 0.2


def char_bits(bytesize: int, parity: str, stopbits: int) -> int:
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


class SerialLine:
    """Byte I/O on a pty (``device=None``: a new pair) or a serial device."""

    def __init__(self, on_bytes: Callable[[bytes, float], None], *, device: str | None = None,
                 baud: int = 115200, bytesize: int = 8, parity: str = "N", stopbits: int = 1,
                 pace: bool = False) -> None:
        self.on_bytes = on_bytes
        self.device = device
        self.baud, self.pace = baud, pace
        self.char_s = char_bits(bytesize, parity, stopbits) / baud
        self._settings = (baud, bytesize, parity, stopbits)
        self.fd = -1
        self._slave_fd = -1
        self._port: serial.Serial | None = None
        self.name = ""
        self.busy_until = 0.0  # when the last paced byte leaves the wire
        self.dropped = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> str:
        """Open the line and start reading; returns the device name a master opens."""
        self._loop = asyncio.get_running_loop()
        if self.device is None:
            self.fd, self._slave_fd = os.openpty()
            tty.setraw(self._slave_fd)  # raw before any master opens it: no echo, no CR/LF games
            self.name = os.ttyname(self._slave_fd)
        else:
            baud, bytesize, parity, stopbits = self._settings
            self._port = serial.Serial(self.device, baudrate=baud, bytesize=bytesize,
                                       parity=parity, stopbits=stopbits, timeout=0)
            self.fd = self._port.fileno()
            self.name = self.device
        os.set_blocking(self.fd, False)
        self._loop.add_reader(self.fd, self._readable)
        return self.name

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: the far side of a pty went away
            return
        if data:
            assert self._loop is not None
            self.on_bytes(data, self._loop.time())

    async def write(self, data: bytes, not_before: float | None = None) -> None:
        """Send ``data``, paced at the baud rate when asked: byte k leaves at ``start + (k + 1)
        × character``, ``start`` being ``not_before`` (the instant a real UART would begin,
        e.g. t3.5 after the request; default now) or when the last paced write ends. A late
        wake-up sends the bytes already due at once; the last byte is timed precisely
        (:func:`hil.timing.sleep_until`), so the answer ends when it would on a wire."""
        loop = asyncio.get_running_loop()
        if not self.pace:
            await self._write_now(data)
            return
        n = len(data)
        start = max(loop.time() if not_before is None else not_before, self.busy_until)
        last = start + n * self.char_s
        self.busy_until = last
        sent = 0
        while sent < n:
            now = loop.time()
            due = min(n, int((now - start) / self.char_s + 1e-9))
            if due > sent:
                await self._write_now(data[sent:due])
                sent = due
            if sent < n:  # wake for a millisecond's bytes, or precisely for the last one
                target = min(last, max(start + (sent + 1) * self.char_s, now + SPIN_S))
                await sleep_until(target, precise=target >= last)

    async def _write_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError:
                self.dropped += len(view)
                return
            if not await self._wait_writable(WRITE_STALL_S):
                self.dropped += len(view)
                return

    async def _wait_writable(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        loop.add_writer(self.fd, lambda: fut.done() or fut.set_result(None))
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            loop.remove_writer(self.fd)

    def close(self) -> None:
        if self.fd < 0:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        if self._port is not None:
            self._port.close()
        else:
            os.close(self.fd)
            os.close(self._slave_fd)
        self.fd = self._slave_fd = -1

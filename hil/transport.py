"""Wires for the pollers: a serial bus (RTU or ASCII) and a Modbus TCP connection.

* :class:`SerialBus`: one serial line — a device path (opened with pyserial) or the master end
  of a pseudo-terminal pair given as a file descriptor. One :class:`asyncio.Lock` per bus;
  after each transaction the bus stays quiet for ``gap_s`` (the inter-frame gap: 3.5 characters,
  1.75 ms above 19200 Bd, unless the board file's ``interframe_ms`` says otherwise). A line
  that cannot be opened raises ``LinkError("link_down")`` and is retried on the next use.
* :class:`RtuMaster`: Modbus RTU transactions on a bus; the answer is complete when its length
  (from the function byte) has arrived, or, for bytes that make no sense, after ``silence_s``
  without a byte; stale bytes are dropped before each request.
* :class:`TcpMaster`: Modbus TCP (MBAP) on one connection, opened on first use and reopened
  after any failure; the transaction id of every answer is checked.

We frame Modbus ourselves rather than through pymodbus' clients: a pymodbus client folds a bad
CRC, a wrong device id and a silent board into the same timeout, and can only open a device by
path, while the embedded stubs are restarted on the far side of a pty pair that stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import time
import tty
from collections.abc import Callable

from hil.modbus import LinkError, mbap_frame, rtu_expected_length, rtu_frame, rtu_unwrap
from hil.timing import sleep_until

MAX_FRAME = 260


def char_time_s(baud: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> float:
    return (1 + bytesize + (parity != "N") + stopbits) / baud


def rtu_gap_s(baud: int, interframe_ms: float = 0.0, char_s: float | None = None) -> float:
    """The RTU inter-frame silence: ``interframe_ms``, else 3.5 characters (1.75 ms > 19200)."""
    if interframe_ms:
        return interframe_ms / 1000.0
    return 1.75e-3 if baud > 19200 else 3.5 * (char_s or char_time_s(baud))


class PtyPair:
    """A pseudo-terminal pair standing in for a serial cable: a board (stub) opens ``path``;
    the poller uses ``master_fd``. Both ends stay open until :meth:`close`, so a board can close
    and reopen ``path`` (a restart) while the poller keeps its end."""

    def __init__(self) -> None:
        self.master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        tty.setraw(self.master_fd)
        self.path = os.ttyname(self._slave_fd)

    def close(self) -> None:
        for fd in (self.master_fd, self._slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master_fd = self._slave_fd = -1

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialBus:
    """A serial line shared by the boards on it (``device``: a path or an open pty master fd)."""

    def __init__(self, device: str | int, *, baud: int = 115200, bytesize: int = 8,
                 parity: str = "N", stopbits: int = 1, gap_s: float | None = None,
                 precise: bool = False) -> None:
        """``precise``: time the inter-frame gap to tens of µs instead of asyncio's rounded-up
        milliseconds, spinning at most a millisecond per gap (:mod:`hil.timing`)."""
        self.device = device
        self.settings = (baud, bytesize, parity, stopbits)
        self.char_s = char_time_s(baud, bytesize, parity, stopbits)
        self.gap_s = rtu_gap_s(baud, 0.0, self.char_s) if gap_s is None else gap_s
        self.precise = precise
        self.lock = asyncio.Lock()
        self.quiet_until = 0.0  # loop time before which no frame may start (inter-frame gap)
        self.last_rx = 0.0  # loop time the last bytes arrived
        self._sent_at, self._sent_len = 0.0, 0  # the last write: when, how many bytes
        self.fd = -1
        self.on_data: Callable[[bytes], None] | None = None  # ASCII lines read this way
        self.buf = bytearray()
        self._more = asyncio.Event()
        self._port: object | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        return self.device if isinstance(self.device, str) else f"pty fd {self.device}"

    def open(self) -> None:
        if self.fd >= 0:
            return
        self._loop = asyncio.get_running_loop()
        if isinstance(self.device, int):
            fd = self.device
        else:
            import serial

            baud, bytesize, parity, stopbits = self.settings
            try:
                port = serial.Serial(self.device, baudrate=baud, bytesize=bytesize,
                                     parity=parity, stopbits=stopbits, timeout=0)
            except (OSError, serial.SerialException, ValueError) as exc:
                raise LinkError("link_down", self.name, str(exc)) from None
            self._port = port
            fd = port.fileno()
        os.set_blocking(fd, False)
        self.fd = fd
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: nobody on the far side of the pty
            return
        if not data:
            return
        assert self._loop is not None
        self.last_rx = self._loop.time()
        if self.on_data is not None:
            self.on_data(data)
        else:
            self.buf += data
            self._more.set()

    def write(self, data: bytes) -> None:
        self.open()
        assert self._loop is not None
        self._sent_at, self._sent_len = self._loop.time(), len(data)
        try:
            n = os.write(self.fd, data)
        except OSError as exc:  # full (nobody reads) or gone
            raise LinkError("link_down", self.name, f"write failed: {exc}") from None
        if n != len(data):
            raise LinkError("link_down", self.name, f"wrote {n} of {len(data)} bytes")

    def quiet_after_activity(self) -> None:
        """A transaction ended: the next frame may start ``gap_s`` after the last activity on
        the line, the answer's last bytes (when they came after the request went out)."""
        sent_end = self._sent_at + self._sent_len * self.char_s  # its last byte on a wire
        end = max(sent_end, self.last_rx) if self.last_rx >= self._sent_at else sent_end
        self.quiet_until = end + self.gap_s

    async def quiet(self) -> None:
        """Wait out what is left of the inter-frame gap (nothing when the bus was idle)."""
        await sleep_until(self.quiet_until, self.precise)

    def flush_input(self) -> int:
        n = len(self.buf)
        self.buf.clear()
        self._more.clear()
        return n

    async def wait_bytes(self, timeout: float) -> bool:
        """Wait for more bytes; False after ``timeout`` without any."""
        self._more.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._more.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self.fd < 0:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        if self._port is not None:
            self._port.close()  # type: ignore[attr-defined]
            self._port = None
        self.fd = -1  # a pty fd given to us stays open: its owner closes it


class RtuMaster:
    """Modbus RTU transactions with one device on a :class:`SerialBus`."""

    def __init__(self, bus: SerialBus, device_id: int, timeout_s: float,
                 silence_s: float = 0.02) -> None:
        self.bus, self.device_id, self.timeout_s = bus, device_id, timeout_s
        self.silence_s = max(silence_s, bus.gap_s)
        self.last_rtt_s = math.nan  # request written → answer complete, of the last success

    @property
    def where(self) -> str:
        return f"{self.bus.name} device {self.device_id}"

    async def transact(self, pdu: bytes, where: str = "") -> bytes:
        where = where or self.where
        bus = self.bus
        async with bus.lock:
            await bus.quiet()
            bus.open()
            bus.flush_input()
            t0 = time.perf_counter()
            bus.write(rtu_frame(self.device_id, pdu))
            try:
                frame = await self._answer(where)
                self.last_rtt_s = time.perf_counter() - t0
            finally:
                bus.quiet_after_activity()
        return rtu_unwrap(frame, self.device_id, where)

    async def _answer(self, where: str) -> bytes:
        bus = self.bus
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            need = rtu_expected_length(bytes(bus.buf[:3]))
            if need is not None and need > 0 and len(bus.buf) >= need:
                frame = bytes(bus.buf[:need])
                extra = len(bus.buf) > need
                if extra or (bus.buf and bus.buf[0] != self.device_id):
                    await self._drain()
                    raise LinkError("garbage", where, f"unexpected bytes {bytes(bus.buf[:32])!r}"
                                    if extra else f"answer from device id {frame[0]}")
                return frame
            if (need == -1 or len(bus.buf) > MAX_FRAME) and bus.buf:
                await self._drain()
                raise LinkError("garbage", where, f"{bytes(bus.buf[:32]).hex(' ')}")
            left = deadline - loop.time()
            if left <= 0:
                if bus.buf:
                    raise LinkError("garbage", where, f"incomplete answer "
                                    f"{bytes(bus.buf[:32]).hex(' ')}")
                raise LinkError("timeout", where, f"no answer in {self.timeout_s:g} s")
            await bus.wait_bytes(left)

    async def _drain(self) -> None:
        """Let a garbled answer finish (``silence_s`` without a byte), so it is not the next."""
        while await self.bus.wait_bytes(self.silence_s):
            pass


class TcpMaster:
    """Modbus TCP transactions with one unit over one connection."""

    def __init__(self, host: str, port: int, unit: int, timeout_s: float) -> None:
        self.host, self.port, self.unit, self.timeout_s = host, port, unit, timeout_s
        self.lock = asyncio.Lock()
        self._tid = 0
        self.last_rtt_s = math.nan
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} unit {self.unit}"

    async def _connect(self, where: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            try:
                async with asyncio.timeout(self.timeout_s):
                    self._reader, self._writer = await asyncio.open_connection(self.host,
                                                                               self.port)
            except (OSError, TimeoutError) as exc:
                raise LinkError("link_down", where, f"connect: {exc or 'timed out'}") from None
        return self._reader, self._writer

    async def transact(self, pdu: bytes, where: str = "") -> bytes:
        where = where or self.where
        async with self.lock:
            reader, writer = await self._connect(where)
            self._tid = (self._tid + 1) & 0xFFFF
            t0 = time.perf_counter()
            try:
                writer.write(mbap_frame(self._tid, self.unit, pdu))
                async with asyncio.timeout(self.timeout_s):
                    await writer.drain()
                    head = await reader.readexactly(7)
                    tid, pid, length, unit = struct.unpack(">HHHB", head)
                    if pid != 0 or not 2 <= length <= 254 or tid != self._tid \
                            or unit != self.unit:
                        raise LinkError("garbage", where, f"bad MBAP header {head.hex(' ')}")
                    answer = await reader.readexactly(length - 1)
                    self.last_rtt_s = time.perf_counter() - t0
                    return answer
            except TimeoutError:
                await self.close()
                raise LinkError("timeout", where, f"no answer in {self.timeout_s:g} s") from None
            except LinkError:
                await self.close()  # the byte stream lost its framing: start again
                raise
            except (OSError, asyncio.IncompleteReadError) as exc:
                await self.close()
                raise LinkError("link_down", where, f"connection lost: {exc}") from None

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()

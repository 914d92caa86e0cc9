"""Helpers for the stub tests: the default satellite's boards, clients, raw ports, a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import time
import tty
from collections.abc import AsyncIterator
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from firmware_stubs.rtu import RtuStub
from firmware_stubs.sources import ConstantSource, nominal_values
from firmware_stubs.tcp import TcpStub
from hil.boardfile import load_boards
from twin.catalogue import build_catalogue
from twin.config import load_satellite

CFG = load_satellite().config
CAT = build_catalogue(CFG)
BOARDS = load_boards(CAT)
NOMINAL = nominal_values(CFG)
TIMEOUT = 2.0  # answers expected
SILENT = 0.3  # answers not expected: how long a client waits before giving up


class ManualClock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def constant(values: dict[str, float] | None = None, clock: Any = None) -> ConstantSource:
    v = dict(NOMINAL)
    v.update(values or {})
    return ConstantSource(v, clock or ManualClock(1234.5))


def modbus_stub(transport: str, board: str = "power", source: Any = None, **kw: Any) -> Any:
    """``board`` served over ``transport`` ("tcp" or "rtu"), whatever its file says."""
    kw.setdefault("noise", False)
    kw.setdefault("sample_rate_hz", 0)
    cls = TcpStub if transport == "tcp" else RtuStub
    return cls(BOARDS[board], source or constant(), **kw)


@contextlib.asynccontextmanager
async def client(stub: Any, timeout: float = TIMEOUT) -> AsyncIterator[Any]:
    if isinstance(stub, TcpStub):
        c: Any = AsyncModbusTcpClient("127.0.0.1", port=stub.port, timeout=timeout, retries=0)
    else:
        c = AsyncModbusSerialClient(stub.port, baudrate=stub.board.link.baud, timeout=timeout,
                                    retries=0)
    try:
        assert await c.connect()
        yield c
    finally:
        c.close()


class RawPort:
    """The master's end of a stub's pty, unbuffered, with arrival times."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.buf = bytearray()

    def write(self, data: bytes) -> float:
        os.write(self.fd, data)
        return time.monotonic()

    async def _more(self, timeout: float) -> list[tuple[float, int]]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        loop.add_reader(self.fd, lambda: fut.done() or fut.set_result(None))
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            loop.remove_reader(self.fd)
        data = os.read(self.fd, 4096)
        self.buf += data
        return [(time.monotonic(), len(data))]

    async def read(self, n: int, timeout: float = TIMEOUT) -> tuple[bytes, list[tuple[float, int]]]:
        """Exactly ``n`` bytes and (arrival time, byte count) of each chunk."""
        chunks = []
        async with asyncio.timeout(timeout):
            while len(self.buf) < n:
                chunks += await self._more(timeout)
        out, self.buf = bytes(self.buf[:n]), self.buf[n:]
        return out, chunks

    async def readline(self, timeout: float = TIMEOUT) -> bytes:
        async with asyncio.timeout(timeout):
            while b"\n" not in self.buf:
                await self._more(timeout)
        i = self.buf.index(b"\n") + 1
        out, self.buf = bytes(self.buf[:i]), self.buf[i:]
        return out

    def read_timed(self, n: int, timeout: float = TIMEOUT) -> list[tuple[float, int]]:
        """Blocking: read exactly ``n`` bytes, stamping each chunk as it arrives.

        Run it on a thread (``asyncio.to_thread``) so that the stamps do not wait for the event
        loop that is busy serving the stub.
        """
        chunks: list[tuple[float, int]] = []
        got = 0
        deadline = time.monotonic() + timeout
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError(f"{got} of {n} bytes")
            data = os.read(self.fd, n - got)
            chunks.append((time.monotonic(), len(data)))
            got += len(data)
        return chunks

    def pending(self) -> bytes:
        """Whatever has arrived and not been read (without waiting)."""
        with contextlib.suppress(BlockingIOError):
            self.buf += os.read(self.fd, 4096)
        out, self.buf = bytes(self.buf), bytearray()
        return out

    def close(self) -> None:
        os.close(self.fd)

"""The rack controller's ASCII line protocol on a serial line (a pty pair by default).

Every ``[link] telemetry_period_s`` the board sends its periodic sentences (status, then each
rack and GPU); a ``slow`` fault holds each cycle back by its delay, as it does answers. It
answers, after the turnaround delay (and a ``slow`` fault's delay):

* ``$<T>CMD,<NAME>,<keys>,<value>*hh`` → ``$<T>ACK,<NAME>,<keys>,<value>`` once the command is
  delivered, or ``$<T>NAK,<NAME>,[<keys>,]<reason>``: CHECKSUM (bad checksum; counted as a
  frame error), FORMAT, UNKNOWN (command or sentence), INDEX (no such rack), RANGE, FAILED
  (refused by whatever applies it);
* ``$<T>QRY,<ID>[,<keys>]*hh`` → the sentences of that id (whose keys start with those given)
  now; ``$<T>QRY,ALL`` → a whole telemetry cycle.

``<T>`` is the board's talker (``RK``). Bytes before a ``$`` and lines longer than 512 bytes
are dropped as frame errors.
"""

from __future__ import annotations

import asyncio
import math

from firmware_stubs.base import StubBase
from firmware_stubs.modbus import ModbusError
from firmware_stubs.serial_link import SerialLine
from hil.boardfile import (
    SentenceError,
    check_command,
    encode_sentence,
    format_sentence,
    format_value,
    parse_sentence,
)

MAX_LINE = 512


class AsciiStub(StubBase):
    def __init__(self, *args: object, device: str | None = None, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.device = device
        self.line: SerialLine | None = None
        self._buf = bytearray()
        self._lines: asyncio.Queue[bytes] = asyncio.Queue()
        self._send_lock = asyncio.Lock()

    async def _open(self) -> None:
        ln = self.board.link
        self.line = SerialLine(self._on_bytes, device=self.device, baud=ln.baud,
                               bytesize=ln.bytesize, parity=ln.parity, stopbits=ln.stopbits,
                               pace=self.pace)
        self.port = self.line.open()
        self.spawn(self._worker())
        self.spawn(self._telemetry())

    async def _close(self) -> None:
        if self.line is not None:
            self.line.close()

    # --- receiving -----------------------------------------------------------------------
    def _on_bytes(self, data: bytes, t: float) -> None:
        if self.core.faults.link_down:
            return
        self._buf += data
        while b"\n" in self._buf:
            raw, _, rest = self._buf.partition(b"\n")
            self._buf = bytearray(rest)
            start = raw.find(b"$")
            if start != 0:
                self.core.count("frame_errors")
            if start >= 0:
                self._lines.put_nowait(bytes(raw[start:]) + b"\n")
        if len(self._buf) > MAX_LINE:
            self.core.count("frame_errors")
            self._buf.clear()

    async def _worker(self) -> None:
        while True:
            await self._handle(await self._lines.get())

    async def _handle(self, line: bytes) -> None:
        core, tk = self.core, self.board.talker
        try:
            words = parse_sentence(line)
        except SentenceError as exc:
            core.count("frame_errors")
            await self._nak("?", (), "CHECKSUM" if exc.reason == "checksum" else "FORMAT")
            return
        core.count("rx_frames")
        if words[0] == tk + "CMD":
            await self._command(words[1:])
        elif words[0] == tk + "QRY":
            await self._query(words[1:])
        else:
            await self._nak(words[0], (), "UNKNOWN")

    async def _command(self, args: list[str]) -> None:
        name = args[0] if args else "?"
        cmd = next((c for c in self.board.commands if c.name == name), None)
        if cmd is None:
            await self._nak(name, (), "UNKNOWN")
            return
        if len(args) != 2 + len(cmd.keys):
            await self._nak(name, (), "FORMAT")
            return
        try:
            keys = tuple(int(a) for a in args[1:-1])
            value = float(args[-1])
        except ValueError:
            await self._nak(name, (), "FORMAT")
            return
        f = dict(cmd.instances).get(keys)
        if f is None:
            await self._nak(name, keys, "INDEX")
            return
        if not math.isfinite(value) or check_command(f, value):
            await self._nak(name, keys, "RANGE")
            return
        try:
            await self.core.apply(f, value)
        except ModbusError:
            await self._nak(name, keys, "FAILED")
            return
        await self._send(format_sentence([self.board.talker + "ACK", name, *map(str, keys),
                                          format_value(f, value)]))

    async def _query(self, args: list[str]) -> None:
        if args == ["ALL"]:
            await self._send(self.telemetry(periodic_only=False))
            return
        s = next((s for s in self.board.sentences if args and s.id == args[0]), None)
        try:
            prefix = tuple(int(a) for a in args[1:])
        except ValueError:
            prefix = None
        if s is None or prefix is None or len(prefix) > len(s.keys):
            await self._nak("QRY", (), "UNKNOWN" if s is None else "FORMAT")
            return
        text = self._sentences(s, prefix)
        if not text:
            await self._nak("QRY", prefix, "INDEX")
            return
        await self._send(text)

    # --- sending -------------------------------------------------------------------------
    def _sentences(self, s, prefix: tuple[int, ...] = ()) -> bytes:  # type: ignore[no-untyped-def]
        self.core.refresh_status()
        out = bytearray()
        for keys, fields in s.instances:
            if keys[:len(prefix)] == prefix:
                values = {f.key: self.core.field_value(f) for f in fields}
                out += encode_sentence(s, keys, values)
        return bytes(out)

    def telemetry(self, periodic_only: bool = True) -> bytes:
        """One telemetry cycle as the board would send it now."""
        return b"".join(self._sentences(s) for s in self.board.sentences
                        if s.periodic or not periodic_only)

    async def _telemetry(self) -> None:
        """Every period, a telemetry cycle; under a ``slow`` fault each cycle leaves
        ``delay_s`` after it was taken (a delay longer than the period skips the cycles due
        meanwhile, as a busy firmware would, rather than sending them in a burst)."""
        loop = asyncio.get_running_loop()
        period = self.board.link.telemetry_period_s
        due = loop.time()
        while True:
            due += period
            await asyncio.sleep(max(0.0, due - loop.time()))
            faults = self.core.faults
            if faults.link_down or faults.drops():
                continue
            cycle = self.telemetry()
            delay = faults.delay_s()
            if delay > 0:
                await asyncio.sleep(delay)
                if due < loop.time() - period:
                    due = loop.time()
            if not faults.link_down:
                await self._send(cycle, answer=False)

    async def _nak(self, name: str, keys: tuple[int, ...], reason: str) -> None:
        self.core.count("exceptions")
        await self._send(format_sentence([self.board.talker + "NAK", name, *map(str, keys),
                                          reason]))

    async def _send(self, data: bytes, answer: bool = True) -> None:
        if answer and not await self.answer_delay():
            return
        assert self.line is not None
        async with self._send_lock:
            await self.line.write(self.core.faults.garbage() or data)

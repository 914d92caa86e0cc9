"""The rack controller's poller: an ASCII sentence line (:mod:`hil.poller` explains what every
poller does): listen to the telemetry, ask when it is silent, time a status query every
``[link] status_query_s``, and command with ACK/NAK."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

from hil.boardfile import (
    Board,
    SentenceError,
    decode_sentence,
    encode_ascii_command,
    format_sentence,
    format_value,
    parse_reply,
    parse_sentence,
)
from hil.modbus import LinkError
from hil.poller import BoardPoller, CommandResult, log
from hil.transport import SerialBus
from twin.errors import TwinError

MAX_LINE = 512


class AsciiPoller(BoardPoller):
    """The rack controller's sentence line: listen, ask when silent, command with ACK/NAK."""

    SENDS_UNASKED = True

    def __init__(self, board: Board, bus: SerialBus, **kw: Any) -> None:
        kw.setdefault("period_s", board.link.telemetry_period_s)
        super().__init__(board, **kw)
        self.bus = bus
        self.timeout_s = board.link.timeout_s
        self.status_query_s = board.link.status_query_s
        # a status query asks for a sentence sent on request only (its answer cannot be
        # mistaken for telemetry), else for the status sentence (status fields only)
        self.status_id = next((s.id for s in board.sentences if not s.periodic), "") or next(
            (s.id for s in board.sentences if all(f.kind == "status" for f in s.templates)), "")
        self._buf = bytearray()
        self._pending: dict[tuple[str, tuple[int, ...]], asyncio.Future[Any]] = {}
        self._heard = asyncio.Event()
        self._status_heard = asyncio.Event()
        self._queried = -math.inf  # monotonic time of the last status query
        self._cycle_id = next((s.id for s in board.sentences if s.periodic), "")  # cycle's 1st
        self._asking = ""  # the query waiting for its answer

    @property
    def where(self) -> str:
        return self.bus.name

    async def _close_transport(self) -> None:
        self.bus.close()

    # --- receiving -----------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        self._buf += data
        while b"\n" in self._buf:
            raw, _, rest = self._buf.partition(b"\n")
            self._buf = bytearray(rest)
            self._line(bytes(raw) + b"\n")
        if len(self._buf) > MAX_LINE:
            self._garbage(f"{len(self._buf)} bytes without a line end")
            self._buf.clear()

    def _garbage(self, why: str) -> None:
        self.stats.failure("garbage")
        log.debug("board %s (%s): garbage: %s", self.board.name, self.where, why)

    def _line(self, line: bytes) -> None:
        start = line.rfind(b"$")
        if start != 0:
            self._garbage(f"{line[:max(start, 0) or 32]!r} before a sentence")
            if start < 0:
                return
            line = line[start:]
        try:
            reply = parse_reply(self.board, line)
            if reply is not None:
                fut = self._pending.get((reply.name, reply.keys))
                if fut is None and not reply.ok:  # a NAK without keys (FORMAT, UNKNOWN)
                    fut = next((f for (n, _), f in self._pending.items() if n == reply.name),
                               None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
                self._heard.set()
                return
            sid, decoded = decode_sentence(self.board, line)
        except SentenceError as exc:
            self._garbage(str(exc))
            return
        if not decoded:
            return
        if sid == self.status_id:
            self._status_heard.set()
        if sid == self._cycle_id and self._asking != "ALL":  # an unasked cycle begins
            self.poll_starts.append(asyncio.get_running_loop().time())
        self._store(decoded)
        self._heard.set()
        self.stats.success()
        self._ok()

    def listen(self) -> None:
        """Open the line and route its bytes to this poller (also done by run and command)."""
        self.bus.on_data = self._on_data
        self.bus.open()

    async def run(self) -> None:
        poll = min(self.period_s / 4, 0.25)
        if self.status_query_s:
            poll = min(poll, self.status_query_s)
        while True:
            try:
                self.listen()
                now = time.monotonic()
                if now - self.last_ok > 1.25 * self.period_s:
                    await self._query("ALL", self._heard)
                elif self.status_query_s and self.status_id \
                        and now - self._queried >= self.status_query_s:
                    self._queried = now
                    await self._query(self.status_id, self._status_heard)
            except LinkError as exc:
                self._fail(exc)
            self._heard.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._heard.wait()

    async def _query(self, what: str, answered: asyncio.Event) -> None:
        """``QRY,<what>`` (``ALL``: a whole telemetry cycle; the status sentence's id: that
        sentence) and time the round trip to ``answered``; a timeout (after ``retries``
        repeats) if nothing answers."""
        where = f"board {self.board.name} ({self.where}) {self.board.talker}QRY,{what}"
        for attempt in range(self.retries + 1):
            async with self.bus.lock:
                await self.bus.quiet()
                answered.clear()
                t0 = time.perf_counter()
                self._asking = what
                self.bus.write(format_sentence([self.board.talker + "QRY", what]))
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await answered.wait()
                except TimeoutError:
                    if attempt == self.retries:
                        raise LinkError("timeout", where, f"no answer in {self.timeout_s:g} s"
                                        ) from None
                    self.stats.failure("timeout")  # retried: counted, not yet a failed poll
                    continue
                finally:
                    self._asking = ""
                    self.bus.quiet_after_activity()
            self.stats.last_latency_s = time.perf_counter() - t0
            self.stats.latencies_s.append(self.stats.last_latency_s)
            return

    # --- commands ------------------------------------------------------------------------
    async def command(self, path: str, value: float) -> CommandResult:
        try:
            line = encode_ascii_command(self.board, path, value)
        except TwinError as exc:
            return CommandResult(False, path, value, "refused", str(exc))
        words = parse_sentence(line)
        name, keys = words[1], tuple(int(w) for w in words[2:-1])
        where = f"board {self.board.name} ({self.where}) {words[0]},{name}"
        for attempt in range(self.retries + 1):  # a lost ACK: the command again (idempotent)
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[(name, keys)] = fut
            t0 = time.perf_counter()
            try:
                async with self.bus.lock:
                    await self.bus.quiet()
                    self.listen()
                    self.bus.write(line)
                    try:
                        async with asyncio.timeout(self.timeout_s):
                            reply = await fut
                    finally:
                        self.bus.quiet_after_activity()
                break
            except TimeoutError:
                self.stats.failure("timeout")
                if attempt == self.retries:
                    return CommandResult(False, path, value, "timeout",
                                         f"{where}: no ACK/NAK in {self.timeout_s:g} s")
            except LinkError as exc:
                self.stats.failure(exc.reason)
                return CommandResult(False, path, value, exc.reason, str(exc))
            finally:
                self._pending.pop((name, keys), None)
        if not reply.ok:
            self.stats.failure("nak")
            return CommandResult(False, path, value, "nak", f"{where}: NAK {reply.detail}")
        self.stats.success(time.perf_counter() - t0)
        f = self.board.command_field(path)
        if reply.detail != format_value(f, value):
            return CommandResult(False, path, value, "readback",
                                 f"{where}: ACK echoed {reply.detail}, sent "
                                 f"{format_value(f, value)}")
        return CommandResult(True, path, value)

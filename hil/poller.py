"""One poller per board: poll at the board's rate, decode into catalogue channels, command.

A poller keeps the board's last decoded values (:class:`~hil.boardfile.Decoded`, by catalogue
path or ``status.<name>``), the board's sample time (simulated seconds, from its status block;
per value, since an ASCII board's sample arrives over many sentences), and when it last heard
from the board. :meth:`BoardPoller.link_state` turns the age of that into
the quality of every value the board reports:

=============  ================================================================
``good``       answered, and the last answer is at most 1.5 poll periods old
``stale``      the last attempt failed, or the last answer is older than 1.5 periods
``offline``    no answer for ``offline_after_s`` (default: two poll periods) while an
               answer has been owed for half a period at least, or never
=============  ================================================================

"Owed": a Modbus board owes an answer from when it was asked (the oldest request unanswered
since its last answer); an ASCII board owes its next telemetry one period after the last (bytes
that arrived during a stall are read before any timer runs). So a board is never called offline
for the twin's own stall: when the event loop is held up (a full garbage collection, the address
space being built, a console screen drawn in the same process), the pollers had no chance to
ask, and the first thing they do on waking is ask again; it answers in milliseconds. A poller
that is not running leaves its board owing since its last answer.

Modbus boards are read block by block (every table the board has, from address 0, at most 125
registers or 2000 bits per request) once per period (``1 / sample_rate_hz``); a request that
times out or comes back garbled is retried ``retries`` times (the board file's ``[link]
retries``; not after an exception answer or a link down), each waiting ``[link] timeout_s``.
ASCII boards send their sentences every ``telemetry_period_s`` by themselves; the poller
listens and, once nothing has arrived for 1.25 periods, asks (``QRY,ALL``) every quarter period
(at most 0.25 s), so that a board that returns is heard at once. Since telemetry comes unasked,
the poller also asks for a status sentence every ``[link] status_query_s`` and times the round
trip to its answer, so that ``hil.<board>.latency_ms`` stays live: the first sentence the board
sends on request only (the rack's ``RKVER``), else its status sentence (then the first one after
the query, which may be the telemetry's). The first failure of an outage is logged as a
warning naming board, port and address; repeats go to debug; the recovery is logged with the
outage's length and failed polls.

:meth:`BoardPoller.next_change` says when the link state next moves by the clock alone, and
``link_listeners`` are called when an answer or a failure may have moved it, so that the mirror
sync re-judges the board's values at once (:meth:`hil.sync.HilSync.run`).

Commands (:meth:`BoardPoller.command`) are encoded with :mod:`hil.boardfile`, written, and read
back (Modbus) or acknowledged with the value echoed (ASCII); the result says why one failed.

:class:`ModbusPoller` is here; the ASCII line's :class:`~hil.asciipoll.AsciiPoller` is in
:mod:`hil.asciipoll`; :func:`make_poller` builds the one a board file asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hil.boardfile import (
    BIT_TABLES,
    TABLES,
    Board,
    Decoded,
    decode_block,
    encode_write,
)
from hil.modbus import MAX_READ, LinkError, parse_response, read_request, write_request
from hil.stats import LinkStats
from hil.timing import LoopLag
from hil.transport import RtuMaster, SerialBus, TcpMaster, rtu_gap_s
from twin.errors import TwinError

log = logging.getLogger(__name__)
READ_FN = {"coils": 1, "discrete_inputs": 2, "holding_registers": 3, "input_registers": 4}
MAX_LINE = 512


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What became of a command: ``reason`` is empty when it was confirmed, else one of
    ``refused`` (not encodable), ``timeout``, ``garbage``, ``exception`` (``code``),
    ``link_down``, ``nak`` (``detail``: the board's reason) or ``readback`` (a different value
    read back)."""

    ok: bool
    path: str
    value: float
    reason: str = ""
    detail: str = ""
    code: int = 0

    def __str__(self) -> str:
        return f"{self.path} = {self.value:g}: " + ("confirmed" if self.ok else self.detail)


class BoardPoller:
    """What every poller shares: values, link state, statistics, logging, life cycle."""

    def __init__(self, board: Board, *, period_s: float, retries: int | None = None,
                 offline_after_s: float | None = None) -> None:
        self.board = board
        self.period_s = period_s
        self.retries = board.link.retries if retries is None else retries
        self.offline_after_s = 2.0 * period_s if offline_after_s is None else offline_after_s
        self.stats = LinkStats()
        self.paths = board.paths()
        self.values: dict[str, Decoded] = {}
        self.sample_s = math.nan  # the board's time stamp of its last sample (simulated s)
        self.sample_times: dict[str, float] = {}  # key → sample time of its value (ASCII
        # boards send a sample in many sentences: a status sentence first, then the values)
        self.last_ok = -math.inf  # monotonic time of the last answer
        self.asked_at: float | None = None  # the oldest request unanswered since then
        self.lag: LoopLag | None = None  # the loop's lost time (set by the mirror sync)
        self._ok_lost = self._ask_lost = 0.0  # the loop's lost time at the answer, the ask
        self.started: float | None = None  # monotonic time start() was called
        self.failing: LinkError | None = None  # the failure of the last attempt, if it failed
        # loop times of each poll's start (Modbus) or each telemetry cycle's arrival (ASCII),
        # for jitter figures
        self.poll_starts: deque[float] = deque(maxlen=2048)
        self.changed = asyncio.Event()  # set whenever values or the link state move
        self.link_listeners: list[Callable[[], None]] = []  # called when the state may move
        self.deadline_listeners: list[Callable[[], None]] = []  # when next_change may move
        self._outage_start = 0.0
        self._outage_polls = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        raise NotImplementedError

    # --- quality -------------------------------------------------------------------------
    # the board sends by itself (ASCII telemetry): its next cycle is owed a period after the
    # last; else (Modbus) it owes an answer only once asked
    SENDS_UNASKED = False

    def owed_since(self) -> float:
        """Since when the board owes an answer (see the module docstring): when it was asked;
        for a board that sends by itself, a period after its last cycle; for a poller that is
        not running (never started, or its task ended), since its last answer."""
        if self.asked_at is not None:
            return self.asked_at
        if self.SENDS_UNASKED:
            return self.last_ok + self.period_s
        if self._task is None or self._task.done():
            return self.last_ok
        return math.inf  # not asked yet: a stalled loop held the poller up, not the board

    def silence(self, now: float) -> tuple[float, float]:
        """(seconds since the last answer, seconds an answer has been owed), without the time
        the event loop was not there to listen (:class:`hil.timing.LoopLag`)."""
        lost = self.lag.lost(now) if self.lag is not None else 0.0
        age = now - self.last_ok - (lost - self._ok_lost)
        since_lost = self._ask_lost if self.asked_at is not None else self._ok_lost
        return age, now - self.owed_since() - (lost - since_lost)

    def link_state(self, now: float | None = None) -> str:
        """``good``, ``stale`` or ``offline`` (see the module docstring)."""
        now = time.monotonic() if now is None else now
        age, owed = self.silence(now)
        if age >= self.offline_after_s and owed >= 0.5 * self.period_s:
            return "offline"
        if self.failing is not None or now - self.last_ok > 1.5 * self.period_s:
            return "stale"
        return "good"

    def next_change(self, now: float | None = None) -> float:
        """The next monotonic instant after ``now`` at which :meth:`link_state` (or
        :meth:`waiting`) moves with no new answer or failure: a good board turning stale, a
        board turning offline, the start-up wait ending; ``math.inf`` when none is due."""
        now = time.monotonic() if now is None else now
        if self.last_ok == -math.inf:  # the start-up wait ends (after a first failure)
            t = math.inf if self.started is None or self.failing is None \
                else self.started + self.offline_after_s
            return t if t > now else math.inf
        age, owed = self.silence(now)  # inf owed: moves when asked
        offline = now + max(self.offline_after_s - age, 0.5 * self.period_s - owed)
        due = [t for t in (self.last_ok + 1.5 * self.period_s, offline) if t > now]
        return min(due, default=math.inf)

    def _link_moved(self) -> None:
        self.changed.set()
        for fn in self.link_listeners:
            fn()

    def _ok(self) -> None:
        """The board answered (its transactions are counted by the caller)."""
        was = self.link_state()
        self.last_ok = time.monotonic()
        self.asked_at = None
        self._ok_lost = self.lag.lost(self.last_ok) if self.lag is not None else 0.0
        if was != "good":
            self._link_moved()
        if self.failing is not None:
            log.info("board %s (%s): answering again after %.2f s and %d failed polls",
                     self.board.name, self.where, self.last_ok - self._outage_start,
                     self._outage_polls)
            self.failing = None
        self.stats.online = True
        self.changed.set()

    def _fail(self, exc: LinkError) -> None:
        self.stats.failure(exc.reason)
        if self.failing is None:
            self._outage_start = time.monotonic()
            self._outage_polls = 0
            log.warning("%s (further failures logged at debug level until it answers)", exc)
        else:
            log.debug("%s", exc)
        self._outage_polls += 1
        self.failing = exc
        self.stats.online = self.link_state() != "offline"
        self._link_moved()

    def _store(self, decoded: dict[str, Decoded]) -> None:
        self.values.update(decoded)
        st = decoded.get("status.sample_time_s")
        if st is not None:
            ms = decoded.get("status.sample_time_ms")
            self.sample_s = st.value + (ms.value / 1000.0 if ms is not None else 0.0)
        self.sample_times.update(dict.fromkeys(decoded, self.sample_s))

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> BoardPoller:
        self.started = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self.run(),
                                                            name=f"poll {self.board.name}")
        return self

    def waiting(self, now: float | None = None) -> bool:
        """Never heard, and either not yet asked to the end (the first poll or query has not
        failed) or not yet silent for ``offline_after_s`` since start (or not started): too
        early to call the board offline. A twin starting on a busy machine may hold the first
        answer up beyond two poll periods; a board that has had no chance to answer is not
        offline."""
        if self.last_ok > -math.inf:
            return False
        now = time.monotonic() if now is None else now
        return self.started is None or self.failing is None \
            or now - self.started < self.offline_after_s

    async def run(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_transport()

    async def _close_transport(self) -> None:
        """Close the wire (a shared serial bus closes once; a given pty fd stays open)."""

    async def __aenter__(self) -> BoardPoller:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_until(self, predicate: Any, timeout: float) -> None:
        """Return once ``predicate()`` holds, re-checked whenever the poller hears something."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.period_s):
                        await self.changed.wait()

    async def command(self, path: str, value: float) -> CommandResult:
        raise NotImplementedError


class ModbusPoller(BoardPoller):
    """A Modbus RTU or TCP board, read whole each period."""

    def __init__(self, board: Board, master: RtuMaster | TcpMaster, **kw: Any) -> None:
        kw.setdefault("period_s", 1.0 / board.sample_rate_hz)
        super().__init__(board, **kw)
        self.master = master
        self.blocks: list[tuple[str, int, int]] = []  # (table, start, count)
        for t in TABLES:
            extent = board.extent(t)
            step = MAX_READ[READ_FN[t]]
            self.blocks += [(t, a, min(step, extent - a)) for a in range(0, extent, step)]

    @property
    def where(self) -> str:
        return self.master.where

    async def _close_transport(self) -> None:
        if isinstance(self.master, TcpMaster):
            await self.master.close()
        else:
            self.master.bus.close()

    def _at(self, table: str, address: int) -> str:
        kind = "bit" if table in BIT_TABLES else "register"
        return f"board {self.board.name} ({self.master.where}) {table} {kind} {address}"

    async def _request(self, pdu: bytes, where: str, retries: int) -> list[int]:
        for attempt in range(retries + 1):
            try:
                answer = parse_response(pdu, await self.master.transact(pdu, where), where)
            except LinkError as exc:
                if exc.reason in ("exception", "link_down") or attempt == retries:
                    raise
                self.stats.failure(exc.reason)  # retried: counted, not yet a failed poll
                continue
            self._latency = self.master.last_rtt_s
            return answer
        raise AssertionError("unreachable")

    async def poll_once(self) -> None:
        """Read every block once; LinkError on the first block that fails."""
        decoded: dict[str, Decoded] = {}
        for table, start, count in self.blocks:
            fn = READ_FN[table]
            words = await self._request(read_request(fn, start, count), self._at(table, start),
                                        self.retries)
            decoded.update(decode_block(self.board, table, start, words))
            self.stats.success(self._latency)
        self._store(decoded)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            self.poll_starts.append(loop.time())
            if self.asked_at is None:
                self.asked_at = time.monotonic()
                self._ask_lost = self.lag.lost(self.asked_at) if self.lag is not None else 0.0
                for fn in self.deadline_listeners:  # owed from now: an offline deadline
                    fn()
            try:
                await self.poll_once()
                self._ok()
            except LinkError as exc:
                self._fail(exc)
            due += self.period_s
            now = loop.time()
            if due < now - self.period_s:  # fell behind (a dead board's timeouts): no burst
                due = now
            await asyncio.sleep(max(0.0, due - now))

    async def command(self, path: str, value: float) -> CommandResult:
        try:
            w = encode_write(self.board, path, value)
        except TwinError as exc:
            return CommandResult(False, path, value, "refused", str(exc))
        where = self._at(w.table, w.address)
        try:
            pdu = write_request(w.function, w.address, w.values)
            parse_response(pdu, await self.master.transact(pdu, where), where)
            back = await self._request(read_request(w.readback_function, w.address,
                                                    len(w.values)), where, self.retries)
        except LinkError as exc:
            self.stats.failure(exc.reason)
            return CommandResult(False, path, value, exc.reason, str(exc), exc.code)
        self.stats.success(self._latency)
        if tuple(back) != w.values:
            return CommandResult(False, path, value, "readback",
                                 f"{where}: wrote {list(w.values)}, read back {back}")
        self._store(decode_block(self.board, w.table, w.address, back))
        self.changed.set()
        return CommandResult(True, path, value)


def make_poller(board: Board, *, device: str | int | None = None, bus: SerialBus | None = None,
                host: str | None = None, port: int | None = None, gap_s: float | None = None,
                **kw: Any) -> BoardPoller:
    """The poller ``board``'s protocol needs, on ``bus`` or a new one on ``device`` (a path or
    a pty master fd; default the board file's), or on ``host:port`` (default the file's)."""
    ln = board.link
    if board.protocol == "modbus_tcp":
        master: RtuMaster | TcpMaster = TcpMaster(host or ln.host, ln.port if port is None
                                                  else port, board.device_id, ln.timeout_s)
        return ModbusPoller(board, master, **kw)
    if bus is None:
        dev = ln.device if device is None else device
        if dev == "":
            raise TwinError(f"board {board.name}: no serial device (set [link] device)")
        gap = rtu_gap_s(ln.baud, ln.interframe_ms) if gap_s is None else gap_s
        bus = SerialBus(dev, baud=ln.baud, bytesize=ln.bytesize, parity=ln.parity,
                        stopbits=ln.stopbits, gap_s=gap)
    if board.protocol == "modbus_rtu":
        return ModbusPoller(board, RtuMaster(bus, board.device_id, ln.timeout_s), **kw)
    from hil.asciipoll import AsciiPoller

    return AsciiPoller(board, bus, **kw)

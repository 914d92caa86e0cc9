"""The pollers' masters: transactions per second and poll jitter, pymodbus as the baseline.

1. A 10-register read (an 8-byte request, a 25-byte answer) of the power monitor's input
   registers, back to back for ``--seconds``, with ``hil.transport``'s masters and, as the
   baseline in the same run, pymodbus's async clients: over loopback TCP, over a pty pair
   unpaced, and with the stub pacing bytes at 115200 8N1.

   Two limits for the paced line, computed from the frames and the line settings:

   * the bytes alone: (8 + 25) × 10 bits = 330 bits = 2.86 ms → ~349 transactions/s;
   * what the Modbus RTU spec allows (MODBUS over Serial Line V1.02 §2.5.1.1): a frame ends
     with t3.5 = 3.5 characters of silence, 1.75 ms above 19200 Bd. A transaction is the
     request, the board's t3.5 to see its end, the board's RS-485 turnaround, the answer, and
     the master's t3.5 before its next request: 2.86 + 2 × 1.75 ms (+ the turnaround, 0 here)
     → ~157 transactions/s.

   The goal is ≥ 90 % of the spec's limit for a compliant master (``hil``, the bus's own gap,
   counted from the line's last activity; ``precise``: timed to tens of µs instead of asyncio's
   rounded-up milliseconds, :mod:`hil.timing`, at the CPU cost shown); ``gap 0`` (a master that
   skips its t3.5, as pymodbus does) is shown against both limits.
2. Poll jitter: the embedded twin runs with its boards (built with them, so with their hil.*
   channels) for ``--seconds``: the power (RTU, pty, 10 Hz) and thermal (TCP, 5 Hz) pollers'
   poll starts, and the rack controller's telemetry cycles as they arrive (ASCII, pty, its own
   1 s period), each against its period's grid (p50/p99 ms later than the earliest).

    .venv/bin/python bench/hil_poll.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from firmware_stubs.rtu import RtuStub
from firmware_stubs.sources import ConstantSource, nominal_values
from firmware_stubs.tcp import TcpStub
from hil.boardfile import Board, load_board
from hil.modbus import parse_response, read_request
from hil.transport import PtyPair, RtuMaster, SerialBus, TcpMaster, char_time_s, rtu_gap_s
from twin.catalogue import build_catalogue
from twin.config import load_satellite

COUNT = 10
REQUEST = read_request(4, 16, COUNT)
REQUEST_BYTES = 1 + len(REQUEST) + 2  # device id, PDU, CRC: 8
ANSWER_BYTES = 1 + 2 + 2 * COUNT + 2  # device id, function and byte count, data, CRC: 25
GOAL = 0.9
TURNAROUND_MS = 0.0  # the benched stubs answer without an RS-485 turnaround


def limits(board: Board, turnaround_ms: float = TURNAROUND_MS) -> tuple[float, float]:
    """(bytes-only limit, RTU-spec limit) in transactions/s on ``board``'s line."""
    ln = board.link
    char_s = char_time_s(ln.baud, ln.bytesize, ln.parity, ln.stopbits)
    wire_s = (REQUEST_BYTES + ANSWER_BYTES) * char_s
    gap_s = rtu_gap_s(ln.baud, ln.interframe_ms, char_s)
    return 1.0 / wire_s, 1.0 / (wire_s + 2 * gap_s + turnaround_ms / 1000.0)


def rates(lat: list[float], elapsed: float, cpu_s: float) -> tuple[float, float, float, float]:
    return len(lat) / elapsed, float(np.percentile(lat, 50)) * 1e3, \
        float(np.percentile(lat, 99)) * 1e3, cpu_s / elapsed


async def ours(master: RtuMaster | TcpMaster, seconds: float
               ) -> tuple[float, float, float, float]:
    """(transactions/s over elapsed time, p50 ms, p99 ms round trip, CPU of this process)."""
    lat = []
    cpu0 = time.process_time()
    t_start = time.perf_counter()
    t_end = t_start + seconds
    while time.perf_counter() < t_end:
        parse_response(REQUEST, await master.transact(REQUEST), "bench")
        lat.append(master.last_rtt_s)
    return rates(lat, time.perf_counter() - t_start, time.process_time() - cpu0)


async def baseline(stub: TcpStub | RtuStub, seconds: float
                   ) -> tuple[float, float, float, float]:
    if isinstance(stub, TcpStub):
        c = AsyncModbusTcpClient("127.0.0.1", port=stub.port, timeout=2, retries=0)
    else:
        c = AsyncModbusSerialClient(stub.port, baudrate=115200, timeout=2, retries=0)
    await c.connect()
    lat = []
    cpu0 = time.process_time()
    try:
        t_start = time.perf_counter()
        t_end = t_start + seconds
        while (t0 := time.perf_counter()) < t_end:
            r = await c.read_input_registers(16, count=COUNT, device_id=1)
            assert not r.isError()
            lat.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - t_start
    finally:
        c.close()
    return rates(lat, elapsed, time.process_time() - cpu0)


Row = tuple[str, bool, float, float, float, float]  # name, compliant, tx/s, p50, p99 ms, CPU


async def throughput(board: Board, src: ConstantSource, seconds: float) -> list[Row]:
    rows: list[Row] = []
    async with TcpStub(board, src, sample_rate_hz=0) as stub:
        m = TcpMaster("127.0.0.1", stub.port, 1, 2.0)
        rows.append(("tcp, hil master", False, *await ours(m, seconds)))
        await m.close()
        rows.append(("tcp, pymodbus", False, *await baseline(stub, seconds)))
    # compliant: paced like a wire, and our master keeps the bus's own t3.5 after each answer
    for pace in (False, True):
        label = "pty, paced 115200" if pace else "pty, unpaced"
        for gap, precise in ((None, False), (None, True), (0.0, False)):
            with PtyPair() as pty:
                async with RtuStub(board, src, sample_rate_hz=0, turnaround_ms=TURNAROUND_MS,
                                   pace=pace, device=pty.path):
                    bus = SerialBus(pty.master_fd, gap_s=gap, precise=precise)
                    name = f"{label}, hil, gap {bus.gap_s * 1e3:.2f} ms" + (
                        " precise" if precise else "")
                    rows.append((name, pace and gap is None,
                                 *await ours(RtuMaster(bus, 1, 2.0), seconds)))
                    bus.close()
        async with RtuStub(board, src, sample_rate_hz=0, turnaround_ms=TURNAROUND_MS,
                           pace=pace) as stub:
            rows.append((f"{label}, pymodbus", False, *await baseline(stub, seconds)))
    return rows


def lateness_ms(starts: np.ndarray, period_s: float) -> np.ndarray:
    """How late each start is on the period's grid anchored at the first (a missed cycle does
    not shift the grid), relative to the earliest one, ms."""
    since = starts - starts[0]
    late = (since - np.round(since / period_s) * period_s) * 1e3
    return late - late.min()


async def jitter(seconds: float) -> list[tuple[str, float, int, float, float]]:
    from twin.embedded import EmbeddedBoards, embedded_twin

    twin = embedded_twin(load_satellite().config, seed=1, mode="realtime")
    stop = asyncio.Event()
    rows = []
    async with EmbeddedBoards(twin) as hil:
        task = asyncio.get_running_loop().create_task(twin.run(stop))
        await asyncio.sleep(seconds)  # a measurement window, not a synchronisation
        stop.set()
        await task
        for name in ("power", "thermal", "rack"):
            p = hil.pollers[name]
            starts = np.array(p.poll_starts)
            what = "telemetry cycles" if p.board.protocol == "ascii" else "polls"
            if len(starts) < 2:
                rows.append((f"{name} ({p.board.protocol}, {what})", 1 / p.period_s,
                             len(starts), float("nan"), float("nan")))
                continue
            late = lateness_ms(starts, p.period_s)
            rows.append((f"{name} ({p.board.protocol}, {what})", 1 / p.period_s, len(starts),
                         float(np.percentile(late, 50)), float(np.percentile(late, 99))))
    return rows


async def main(seconds: float) -> None:
    cfg = load_satellite().config
    board = load_board("power", build_catalogue(cfg))
    src = ConstantSource(nominal_values(cfg))
    wire, spec = limits(board)
    rows = await throughput(board, src, seconds)
    ln = board.link
    print(f"{COUNT}-register read (input registers 16..25: a {REQUEST_BYTES}-byte request, a "
          f"{ANSWER_BYTES}-byte answer), {seconds:g} s each")
    print(f"limits at {ln.baud} {ln.bytesize}{ln.parity}{ln.stopbits}: the bytes alone "
          f"{wire:.0f}/s; with the RTU spec's gaps (2 × t3.5 = "
          f"{2e3 * rtu_gap_s(ln.baud, ln.interframe_ms):.2f} ms, turnaround "
          f"{TURNAROUND_MS:g} ms) {spec:.0f}/s; goal >= {GOAL:.0%} of the spec's limit")
    print("CPU: this process (stub and master together), fraction of one core")
    print(f"{'link, master':42s} {'tx/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s} {'CPU':>5s} "
          f"{'÷ bytes':>8s} {'÷ spec':>7s}")
    for name, compliant, tps, p50, p99, cpu in rows:
        verdict = ""
        if compliant:
            verdict = "  goal met" if tps / spec >= GOAL else "  BELOW GOAL"
        print(f"{name:42s} {tps:7.0f} {p50:7.2f} {p99:7.2f} {cpu:5.0%} {tps / wire:8.2f} "
              f"{tps / spec:7.2f}{verdict}")
    print()
    print(f"poll jitter, embedded twin with its boards running, {seconds:g} s")
    print(f"{'board':36s} {'Hz':>5s} {'n':>5s} {'p50 ms':>7s} {'p99 ms':>7s}")
    for name, hz, n, p50, p99 in await jitter(seconds):
        print(f"{name:36s} {hz:5.1f} {n:5d} {p50:7.2f} {p99:7.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    asyncio.run(main(ap.parse_args().seconds))

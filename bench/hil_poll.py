"""The pollers' masters: transactions per second and poll jitter, pymodbus as the baseline.

1. A 10-register read (8-byte request, 25-byte answer) of the power monitor's input registers,
   back to back for ``--seconds``, with ``hil.transport``'s masters and, as the baseline in the
   same run, pymodbus 3.16's async clients: over loopback TCP, over a pty pair unpaced, and
   with the stub pacing bytes at 115200 8N1.
   Wire limit: 33 bytes × 10 bits = 330 bits = 2.86 ms → 349 transactions/s. The RTU spec
   (MODBUS over Serial Line V1.02 §2.5.1.1) wants ≥ 3.5 characters of silence between frames,
   1.75 ms above 19200 Bd: the stub waits it to see the request's end, and our master keeps the
   bus quiet for it after each answer, so a compliant master tops out at 1 / (2.86 + 2 × 1.75
   ms) ≈ 157/s (45 % of the bytes-only limit); skipping the master's own gap (``gap 0``) gives
   ~216/s at best. 90 % of 349/s is only reachable by a master and board that ignore t3.5.
2. Poll jitter: the embedded power (RTU, pty, 10 Hz) and thermal (TCP, 5 Hz) pollers run for
   ``--seconds``; jitter is each poll's start minus its due time (p50/p99, ms).

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
from hil.boardfile import load_board
from hil.modbus import parse_response, read_request
from hil.transport import PtyPair, RtuMaster, SerialBus, TcpMaster
from twin.catalogue import build_catalogue
from twin.config import load_satellite

BITS = (8 + 25) * 10
WIRE_LIMIT = 115200 / BITS
REQUEST = read_request(4, 16, 10)


async def ours(master: RtuMaster | TcpMaster, seconds: float) -> tuple[float, float, float]:
    """(transactions/s over elapsed time, p50 ms, p99 ms round trip)."""
    lat = []
    t_start = time.perf_counter()
    t_end = t_start + seconds
    while time.perf_counter() < t_end:
        parse_response(REQUEST, await master.transact(REQUEST), "bench")
        lat.append(master.last_rtt_s)
    elapsed = time.perf_counter() - t_start
    return len(lat) / elapsed, float(np.percentile(lat, 50)) * 1e3, \
        float(np.percentile(lat, 99)) * 1e3


async def baseline(stub: TcpStub | RtuStub, seconds: float) -> tuple[float, float, float]:
    if isinstance(stub, TcpStub):
        c = AsyncModbusTcpClient("127.0.0.1", port=stub.port, timeout=2, retries=0)
    else:
        c = AsyncModbusSerialClient(stub.port, baudrate=115200, timeout=2, retries=0)
    await c.connect()
    lat = []
    try:
        t_start = time.perf_counter()
        t_end = t_start + seconds
        while (t0 := time.perf_counter()) < t_end:
            r = await c.read_input_registers(16, count=10, device_id=1)
            assert not r.isError()
            lat.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - t_start
    finally:
        c.close()
    return len(lat) / elapsed, float(np.percentile(lat, 50)) * 1e3, \
        float(np.percentile(lat, 99)) * 1e3


async def throughput(board, src, seconds: float) -> list[tuple[str, float, float, float]]:  # type: ignore[no-untyped-def]
    rows = []
    async with TcpStub(board, src, sample_rate_hz=0) as stub:
        m = TcpMaster("127.0.0.1", stub.port, 1, 2.0)
        rows.append(("tcp, hil master", *await ours(m, seconds)))
        await m.close()
        rows.append(("tcp, pymodbus", *await baseline(stub, seconds)))
    for pace in (False, True):
        label = "pty, paced 115200" if pace else "pty, unpaced"
        for gap in (None, 0.0):
            with PtyPair() as pty:
                async with RtuStub(board, src, sample_rate_hz=0, turnaround_ms=0, pace=pace,
                                   device=pty.path):
                    bus = SerialBus(pty.master_fd, gap_s=gap)
                    name = f"{label}, hil, gap {bus.gap_s * 1e3:.2f} ms"
                    rows.append((name, *await ours(RtuMaster(bus, 1, 2.0), seconds)))
                    bus.close()
        async with RtuStub(board, src, sample_rate_hz=0, turnaround_ms=0, pace=pace) as stub:
            rows.append((f"{label}, pymodbus", *await baseline(stub, seconds)))
    return rows


async def jitter(seconds: float) -> list[tuple[str, float, int, float, float]]:
    from twin.embedded import EmbeddedBoards
    from twin.runtime import Twin

    twin = Twin(load_satellite().config, seed=1, mode="realtime")
    stop = asyncio.Event()
    rows = []
    async with EmbeddedBoards(twin) as hil:
        task = asyncio.get_running_loop().create_task(twin.run(stop))
        await asyncio.sleep(seconds)  # a measurement window, not a synchronisation
        stop.set()
        await task
        for name in ("power", "thermal"):
            p = hil.pollers[name]
            starts = np.array(p.poll_starts)
            due = starts[0] + p.period_s * np.arange(len(starts))
            late = (starts - due) * 1e3
            late -= late.min()  # the first poll's own lateness is the reference
            rows.append((f"{name} ({p.board.protocol})", 1 / p.period_s, len(starts),
                         float(np.percentile(late, 50)), float(np.percentile(late, 99))))
    return rows


async def main(seconds: float) -> None:
    cfg = load_satellite().config
    board = load_board("power", build_catalogue(cfg))
    src = ConstantSource(nominal_values(cfg))
    rows = await throughput(board, src, seconds)
    print(f"10-register read (input registers 16..25), {seconds:g} s each; wire limit at "
          f"115200 8N1: {WIRE_LIMIT:.0f}/s; with both t3.5 gaps: "
          f"{1 / (BITS / 115200 + 2 * 1.75e-3):.0f}/s")
    print(f"{'link, master':40s} {'tx/s':>7s} {'p50 ms':>7s} {'p99 ms':>7s} {'÷ wire':>7s}")
    for name, tps, p50, p99 in rows:
        print(f"{name:40s} {tps:7.0f} {p50:7.2f} {p99:7.2f} {tps / WIRE_LIMIT:7.2f}")
    print()
    print(f"poll jitter, embedded twin running, {seconds:g} s")
    print(f"{'board':24s} {'Hz':>5s} {'polls':>6s} {'p50 ms':>7s} {'p99 ms':>7s}")
    for name, hz, n, p50, p99 in await jitter(seconds):
        print(f"{name:24s} {hz:5.1f} {n:6d} {p50:7.2f} {p99:7.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    asyncio.run(main(ap.parse_args().seconds))

"""Transactions per second against the stub boards, with pymodbus 3.16 as the master.

A 10-register read (8-byte request, 25-byte answer) of the power monitor's map, over loopback
TCP and over a pty pair with and without byte pacing at 115200 8N1. The wire limit is the
bytes alone, 330 bits = 2.86 ms (349 transactions/s); the RTU spec adds a 3.5-character gap
after each frame (1.75 ms above 19200 Bd, MODBUS over Serial Line V1.02 §2.5.1.1), which the
stub needs to see a request end: 2 × 1.75 ms more, so ~157 transactions/s is the paced ceiling
of a master that also waits t3.5 (pymodbus does not), ~216 for one that does not.

    .venv/bin/python bench/stub_rate.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from firmware_stubs.rtu import RtuStub
from firmware_stubs.sources import ConstantSource, nominal_values
from firmware_stubs.tcp import TcpStub
from hil.boardfile import load_board
from twin.catalogue import build_catalogue
from twin.config import load_satellite

BITS = (8 + 25) * 10
WIRE_LIMIT = 115200 / BITS


async def rate(stub, seconds: float) -> tuple[float, float, float]:
    """(transactions/s, p50 ms, p99 ms) of back-to-back 10-register reads."""
    if isinstance(stub, TcpStub):
        c = AsyncModbusTcpClient("127.0.0.1", port=stub.port, timeout=2, retries=0)
    else:
        c = AsyncModbusSerialClient(stub.port, baudrate=115200, timeout=2, retries=0)
    await c.connect()
    lat = []
    try:
        t_end = time.perf_counter() + seconds
        while (t0 := time.perf_counter()) < t_end:
            r = await c.read_input_registers(16, count=10, device_id=1)
            assert not r.isError()
            lat.append(time.perf_counter() - t0)
    finally:
        c.close()
    lat.sort()
    return len(lat) / sum(lat), lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3


async def main(seconds: float) -> None:
    cfg = load_satellite().config
    board = load_board("power", build_catalogue(cfg))
    src = ConstantSource(nominal_values(cfg))
    rows = []
    for name, stub in (("tcp", TcpStub(board, src, sample_rate_hz=0)),
                       ("pty, unpaced", RtuStub(board, src, sample_rate_hz=0, turnaround_ms=0)),
                       ("pty, paced 115200 8N1", RtuStub(board, src, sample_rate_hz=0, pace=True,
                                                         turnaround_ms=0))):
        async with stub:
            rows.append((name, *await rate(stub, seconds)))
    print(f"10-register read, pymodbus {__import__('pymodbus').__version__} master, "
          f"{seconds:g} s each; wire limit at 115200 8N1: {WIRE_LIMIT:.0f}/s")
    print(f"{'link':24s} {'tx/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'÷ wire limit':>13s}")
    for name, tps, p50, p99 in rows:
        print(f"{name:24s} {tps:8.0f} {p50:8.2f} {p99:8.2f} {tps / WIRE_LIMIT:13.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    asyncio.run(main(ap.parse_args().seconds))

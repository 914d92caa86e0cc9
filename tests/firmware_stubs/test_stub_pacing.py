"""Byte pacing and RS-485 timing on a pty, measured at the master's end.

At 115200 Bd 8N1 a character is 10 bits = 86.8 µs (MODBUS over Serial Line V1.02 §2.5.1: start,
8 data, no parity, 1 stop). A pty delivers bytes as fast as the kernel copies them, so only a
paced stub makes a frame last as long as it would on a wire.
"""

from __future__ import annotations

import asyncio
import statistics
import struct

from stubkit import RawPort, modbus_stub

from hil.modbus import rtu_frame

CHAR_S = 10 / 115200
REQUEST = rtu_frame(1, struct.pack(">BHH", 4, 0, 125))  # 125 registers: a 255-byte answer
N = 5 + 2 * 125


async def answer_timing(runs: int = 5, **kw) -> tuple[float, float]:
    """Medians over ``runs`` long answers of (first→last byte, request → first byte).

    The master's end is read on its own thread so that its time stamps do not wait for the
    event loop serving the stub; medians keep one late wake-up of a busy machine out.
    """
    durations, latencies = [], []
    async with modbus_stub("rtu", **kw) as stub:
        port = RawPort(stub.port)
        try:
            for _ in range(runs):
                reading = asyncio.create_task(asyncio.to_thread(port.read_timed, N))
                await asyncio.sleep(0)  # let the reader thread start before the request
                sent = port.write(REQUEST)
                chunks = await reading
                durations.append(chunks[-1][0] - chunks[0][0])
                latencies.append(chunks[0][0] - sent)
        finally:
            port.close()
    return statistics.median(durations), statistics.median(latencies)


async def test_paced_frames_last_as_long_as_on_a_115200_8n1_wire():
    duration, _ = await answer_timing(pace=True, turnaround_ms=0.0)
    wire = (N - 1) * CHAR_S  # first byte's end to last byte's end: 22.1 ms
    assert abs(duration - wire) <= 0.10 * wire, (duration, wire)


async def test_unpaced_frames_arrive_far_faster_than_the_wire():
    duration, _ = await answer_timing(pace=False, turnaround_ms=0.0)
    assert duration < 0.3 * (N - 1) * CHAR_S


async def test_turnaround_and_the_frame_gap_delay_the_answer():
    _, latency = await answer_timing(pace=True, turnaround_ms=20.0)
    request_wire = len(REQUEST) * CHAR_S  # the request's own bytes, paced on reception
    least = request_wire + 1.75e-3 + 20e-3 + CHAR_S  # + t3.5 + turnaround + first byte
    assert least <= latency <= least + 0.025, (latency, least)


async def test_a_paced_answer_ends_when_it_would_on_the_wire_not_a_timer_tick_later():
    """Request end + t3.5 + 255 characters: the last byte within half a millisecond of that
    (asyncio's own timers round up to whole milliseconds; the stub times the last byte)."""
    durations, latencies = [], []
    async with modbus_stub("rtu", pace=True, turnaround_ms=0.0) as stub:
        port = RawPort(stub.port)
        try:
            for _ in range(7):
                reading = asyncio.create_task(asyncio.to_thread(port.read_timed, N))
                await asyncio.sleep(0)
                sent = port.write(REQUEST)
                chunks = await reading
                latencies.append(chunks[-1][0] - sent)
                durations.append(chunks[-1][0] - chunks[0][0])
        finally:
            port.close()
    ideal = len(REQUEST) * CHAR_S + 1.75e-3 + N * CHAR_S
    ends = statistics.median(latencies)
    assert ideal - 1e-4 <= ends <= ideal + 5e-4, (ends, ideal)

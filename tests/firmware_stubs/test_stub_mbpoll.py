"""An independent master: mbpoll (Debian package ``mbpoll``, libmodbus) reads the stubs over TCP
and RTU on a pty; the values match the documented map (docs/boards.md) and the source's truth
within the stated quantisation."""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from stubkit import BOARDS, constant

from firmware_stubs import make_stub
from hil.boardfile import decode_block

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None,
                                reason="mbpoll not installed (Debian package mbpoll; "
                                "the Makefile's APT_PACKAGES installs it)")

VALUES = {"thermal.loop.1.supply_temp_c": 18.25, "thermal.loop.2.return_temp_c": -3.5,
          "thermal.loop.1.heat_w": -1234.0, "power.bus.voltage_v": 121.37,
          "power.bus.current_a": 812.5, "power.battery.2.current_a": -150.25,
          "compute.rack.3.enabled": 0.0}


async def mbpoll(*args: str) -> dict[int, int]:
    proc = await asyncio.create_subprocess_exec("mbpoll", "-1", "-0", "-o", "1", *args,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    return {int(a): int(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(-?\d+)", out.decode(), re.M)}


async def test_mbpoll_reads_the_thermal_board_over_tcp():
    board = BOARDS["thermal"]
    async with make_stub(board, constant(VALUES), noise=False, sample_rate_hz=0) as stub:
        regs = await mbpoll("-m", "tcp", "-p", str(stub.port), "-a", "1", "-t", "3", "-r", "0",
                            "-c", "100", "127.0.0.1")
        heat = await mbpoll("-m", "tcp", "-p", str(stub.port), "-a", "1", "-t", "3:int", "-B",
                            "-r", "96", "-c", "1", "127.0.0.1")
    d = decode_block(board, "input_registers", 0, [regs[a] for a in range(100)])
    assert regs[0] == 0x0201  # firmware 2.1
    for path in ("thermal.loop.1.supply_temp_c", "thermal.loop.2.return_temp_c"):
        f = next(f for f in board.fields if f.key == path and f.table == "input_registers")
        assert abs(d[path].value - VALUES[path]) <= f.max_error
    assert heat[96] == -1234  # int32, high word first, as documented


async def test_mbpoll_reads_the_power_board_over_rtu_on_a_pty():
    board = BOARDS["power"]
    async with make_stub(board, constant(VALUES), noise=False, sample_rate_hz=0) as stub:
        rtu = ("-m", "rtu", "-b", "115200", "-P", "none", "-a", "1")
        volts = await mbpoll(*rtu, "-t", "3", "-r", "16", "-c", "1", stub.port)
        current = await mbpoll(*rtu, "-t", "3:int", "-B", "-r", "17", "-c", "1", stub.port)
        batt = await mbpoll(*rtu, "-t", "3:int", "-B", "-r", "69", "-c", "1", stub.port)
        coils = await mbpoll(*rtu, "-t", "0", "-r", "0", "-c", "4", stub.port)
    assert abs(volts[16] / 100 - 121.37) <= board.field_at("input_registers", 16).max_error
    assert current[17] == 81250
    assert batt[69] == -15025
    assert [coils[a] for a in range(4)] == [1, 1, 0, 1]

"""An independent master: mbpoll (Debian package ``mbpoll``, libmodbus) reads the stubs over TCP
and RTU on a pty; the values match the documented map (docs/boards.md) and the source's truth
within the stated quantisation: a constant source, and the plant model itself (as in ``twin
up``), including a 32-bit field stored low word first, read with mbpoll's word order."""

from __future__ import annotations

import asyncio
import math
import re
import shutil

import pytest
from stubkit import BOARDS, CAT, CFG, constant

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.boardfile import Flag, decode_block
from twin.model.plant import Plant

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


@pytest.fixture(scope="module")
def plant():
    p = Plant(CFG)
    p.run(600, 1.0)  # ten minutes in: values have moved off their start
    return p


async def read_inputs(*link: str, extent: int) -> list[int]:
    """Every input register 0..extent-1, in reads of at most 125 (mbpoll's limit)."""
    regs: dict[int, int] = {}
    for start in range(0, extent, 125):
        n = min(125, extent - start)
        regs |= await mbpoll(*link, "-t", "3", "-r", str(start), "-c", str(n))
    return [regs[a] for a in range(extent)]


def assert_truth(board, plant, words: list[int]) -> int:
    """Every input-register channel decoded from ``words`` is the plant's truth within its
    stated quantisation; returns how many were checked."""
    truth = CAT.sample(plant)
    got = decode_block(board, "input_registers", 0, words)
    checked = 0
    for f in board.measuring():
        if f.table != "input_registers":
            continue
        want = float(truth[CAT[f.key].index])
        d = got[f.key]
        if d.flag != Flag.OK or not math.isfinite(want):
            continue
        assert abs(d.value - want) <= f.max_error + 1e-9, (f.key, d.value, want)
        checked += 1
    return checked


@pytest.mark.parametrize("name", ["power", "thermal"])
async def test_mbpoll_reads_the_plant_through_the_stubs_within_the_quantisation(plant, name):
    board = BOARDS[name]
    kw = {"host": "127.0.0.1", "port": 0} if board.protocol == "modbus_tcp" else {}
    async with make_stub(board, plant_source(plant, CAT), noise=False, sample_rate_hz=0,
                         **kw) as stub:
        if board.protocol == "modbus_tcp":
            link = ("-m", "tcp", "-p", str(stub.port), "-a", "1", "127.0.0.1")
        else:
            link = ("-m", "rtu", "-b", "115200", "-P", "none", "-a", "1", stub.port)
        words = await read_inputs(*link, extent=board.extent("input_registers"))
    checked = assert_truth(board, plant, words)
    assert checked >= 0.8 * sum(f.table == "input_registers" for f in board.measuring())
    assert (words[5] & 0xFFFF) << 16 | (words[6] & 0xFFFF) == int(plant.t_s)  # uint32, ABCD


async def test_mbpoll_reads_a_low_word_first_32_bit_field_with_its_word_order(plant):
    """power.array.<i>.current_a is uint32, low word first (docs/boards.md: "uint32 little"):
    mbpoll's default 32-bit word order is that one; -B (high word first) reads it swapped."""
    board = BOARDS["power"]
    f = board.field_at("input_registers", 33)
    assert (f.key, f.type, f.word_order) == ("power.array.1.current_a", "uint32", "little")
    want = float(CAT.sample(plant)[CAT[f.key].index])
    assert want > 1.0  # the array is in sunlight: a value whose words differ
    async with make_stub(board, plant_source(plant, CAT), noise=False, sample_rate_hz=0) as stub:
        rtu = ("-m", "rtu", "-b", "115200", "-P", "none", "-a", "1")
        little = (await mbpoll(*rtu, "-t", "3:int", "-r", "33", "-c", "1", stub.port))[33]
        big = (await mbpoll(*rtu, "-t", "3:int", "-B", "-r", "33", "-c", "1", stub.port))[33]
        words = await mbpoll(*rtu, "-t", "3", "-r", "33", "-c", "2", stub.port)
    assert abs(little * f.scale - want) <= f.max_error + 1e-9
    lo, hi = words[33] & 0xFFFF, words[34] & 0xFFFF
    assert little == (hi << 16) | lo  # register 33 holds the low word
    assert big & 0xFFFFFFFF == (lo << 16) | hi != little

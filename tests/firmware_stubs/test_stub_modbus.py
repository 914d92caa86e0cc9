"""Each Modbus function and exception code of the stubs, over loopback TCP and over a pty pair.

The master is pymodbus 3.16's client (an independent implementation). The power monitor's map
is served on both transports: it has all four tables, 16- and 32-bit values and settings.
Exception codes: MODBUS Application Protocol V1.1b3 §7 (01 illegal function, 02 illegal data
address, 03 illegal data value, 04 server device failure).
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from pymodbus.exceptions import ModbusIOException
from stubkit import BOARDS, SILENT, RawPort, client, constant, modbus_stub

from firmware_stubs.sources import CallableSource
from hil.boardfile import decode_block, encode_write
from hil.modbus import crc16, mbap_frame, rtu_frame

POWER = BOARDS["power"]


@pytest.fixture(params=["tcp", "rtu"])
def transport(request):
    return request.param


def recorder():
    got: list[tuple[str, float]] = []
    return got, lambda path, value: got.append((path, value))


async def test_input_registers_hold_the_status_block_and_the_documented_values(transport):
    src = constant({"power.bus.voltage_v": 121.37, "power.bus.current_a": 812.5,
                    "power.array.2.current_a": 486.21, "power.battery.3.current_a": -209.99,
                    "power.battery.1.temp_c": -12.34})
    async with modbus_stub(transport, source=src) as stub, client(stub) as c:
        r = await c.read_input_registers(0, count=125, device_id=1)
        assert not r.isError()
        d = decode_block(POWER, "input_registers", 0, r.registers)
        assert d["status.fw_version"].value == 0x0104  # firmware 1.4
        assert d["status.sample_count"].value == 1
        assert d["status.sample_time_s"].value == 1234 and d["status.sample_time_ms"].value == 500
        assert d["status.rx_frames"].value == 1
        assert r.registers[16] == 12137
        assert r.registers[17:19] == [0x0001, 0x3D62]  # 81250, high word first
        assert r.registers[37:39] == [0xBDED, 0x0000]  # wing 2: 48621, low word first
        assert r.registers[73:75] == [0xFFFF, 0xADF9]  # battery 3: -20999
        assert r.registers[67] == 0xFB2E  # battery 1: -1234
        assert d["power.bus.current_a"].value == pytest.approx(812.5)


async def test_bits_and_holding_registers_read_back(transport):
    src = constant({"compute.rack.2.enabled": 0.0, "power.pcdu.rack.3.tripped": 1.0,
                    "power.pcdu.shed_level_cmd": 2.0})
    async with modbus_stub(transport, source=src) as stub, client(stub) as c:
        r = await c.read_coils(0, count=16, device_id=1)
        assert r.bits[:16] == [True, False] + [True] * 14
        r = await c.read_discrete_inputs(32, count=4, device_id=1)
        assert r.bits[:4] == [False, False, True, False]
        r = await c.read_holding_registers(0, count=4, device_id=1)
        assert r.registers == [2, 11400, 0x0001, 0xD4C0]  # level 2, 114.00 V, 1200.00 A


async def test_single_and_multiple_writes_reach_the_callback_and_read_back(transport):
    got, sink = recorder()
    async with modbus_stub(transport, on_command=sink) as stub, client(stub) as c:
        assert not (await c.write_coil(4, False, device_id=1)).isError()
        assert not (await c.write_coils(0, [False, True, False], device_id=1)).isError()
        assert not (await c.write_register(0, 3, device_id=1)).isError()
        w = encode_write(POWER, "setting.bus_overcurrent_a", 1500.0)
        assert not (await c.write_registers(w.address, list(w.values), device_id=1)).isError()
        assert not (await c.write_coil(33, False, device_id=1)).isError()  # heater 2 off
        assert got == [("compute.rack.5.enabled", 0.0), ("compute.rack.1.enabled", 0.0),
                       ("compute.rack.2.enabled", 1.0), ("compute.rack.3.enabled", 0.0),
                       ("power.pcdu.shed_level_cmd", 3.0), ("power.battery.2.heater_mode", 1.0)]
        assert (await c.read_coils(0, count=5, device_id=1)).bits[:5] == \
            [False, True, False, True, False]
        assert (await c.read_holding_registers(0, count=4, device_id=1)).registers == \
            [3, 11400, 0x0002, 0x49F0]
        assert (await c.read_coils(33, count=1, device_id=1)).bits[0] is False


async def test_the_heater_feed_switch_leaves_a_mode_that_is_already_fed_as_it_is(transport):
    """Coil 32 + i is the heater feed: on for auto and for on. Writing 1 to a feed already on
    changes nothing (a heater forced on stays on); 1 from off selects auto; 0 selects off."""
    auto, off, on = 0.0, 1.0, 2.0  # catalogue order
    src = constant({"power.battery.1.heater_mode": on, "power.battery.2.heater_mode": off})
    got, sink = recorder()
    async with modbus_stub(transport, source=src, on_command=sink) as stub, client(stub) as c:
        assert (await c.read_coils(32, count=2, device_id=1)).bits[:2] == [True, False]
        assert not (await c.write_coil(32, True, device_id=1)).isError()
        assert not (await c.write_coil(33, True, device_id=1)).isError()
        assert got == [("power.battery.2.heater_mode", auto)]
        assert src.values["power.battery.1.heater_mode"] == on
        assert not (await c.write_coil(32, False, device_id=1)).isError()
        assert got[-1] == ("power.battery.1.heater_mode", off)
        assert (await c.read_coils(32, count=2, device_id=1)).bits[:2] == [False, True]


async def test_unsupported_functions_and_tables_answer_01(transport):
    async with modbus_stub(transport) as stub, client(stub) as c:
        r = await c.read_exception_status(device_id=1)  # function 07: not implemented
        assert r.isError() and r.exception_code == 1
    async with modbus_stub(transport, board="thermal") as stub, client(stub) as c:
        r = await c.read_coils(0, count=1, device_id=1)  # the thermal board has no coils
        assert r.isError() and r.exception_code == 1


async def test_addresses_outside_a_table_or_not_writable_answer_02(transport):
    async with modbus_stub(transport) as stub, client(stub) as c:
        assert POWER.extent("input_registers") == 140
        assert not (await c.read_input_registers(130, count=10, device_id=1)).isError()
        for r in (await c.read_input_registers(131, count=10, device_id=1),
                  await c.read_holding_registers(4, count=1, device_id=1),
                  await c.write_register(3, 0, device_id=1),      # 2nd word of a 32-bit value
                  await c.write_register(10, 0, device_id=1),     # beyond the table
                  await c.write_coil(20, True, device_id=1)):     # a gap (reserved)
            assert r.isError() and r.exception_code == 2, r
        assert stub.counters["exceptions"] == 5


async def test_refused_values_and_quantities_answer_03(transport):
    got, sink = recorder()
    async with modbus_stub(transport, on_command=sink) as stub, client(stub) as c:
        r = await c.write_register(0, 17, device_id=1)  # shed level 0..16
        assert r.isError() and r.exception_code == 3
        r = await c.write_registers(1, [30000], device_id=1)  # 300.00 V: outside 0..200
        assert r.isError() and r.exception_code == 3
        assert got == []
    # a quantity of 0 or above 125 registers: pymodbus refuses to send those, so send raw
    pdu_zero = struct.pack(">BHH", 4, 0, 0)
    pdu_big = struct.pack(">BHH", 3, 0, 126)
    async with modbus_stub(transport) as stub:
        for pdu in (pdu_zero, pdu_big):
            answer = await raw_transaction(stub, transport, pdu)
            assert answer == bytes([pdu[0] | 0x80, 3])


async def test_failures_of_sensing_or_of_the_command_answer_04(transport):
    def refuse(path, value):
        raise RuntimeError("plant refused")

    async with modbus_stub(transport, on_command=refuse) as stub, client(stub) as c:
        r = await c.write_coil(0, False, device_id=1)
        assert r.isError() and r.exception_code == 4
        assert (await c.read_coils(0, count=1, device_id=1)).bits[0] is True  # not stored

    def broken():
        raise OSError("recording unreadable")

    stub = modbus_stub(transport, source=CallableSource(broken))
    async with stub, client(stub) as c:
        r = await c.read_input_registers(16, count=1, device_id=1)
        assert r.isError() and r.exception_code == 4


async def test_other_device_ids_are_counted_and_ignored(transport):
    async with modbus_stub(transport) as stub:
        async with client(stub, timeout=SILENT) as c:
            with pytest.raises(ModbusIOException):
                await c.read_input_registers(0, count=1, device_id=7)
        await stub.wait_until(lambda: stub.counters["foreign_frames"] == 1)
        async with client(stub) as c:
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()
        assert stub.counters["rx_frames"] == 1


async def raw_transaction(stub, transport: str, pdu: bytes, unit: int = 1) -> bytes:
    """One request by hand; returns the answer's PDU."""
    if transport == "tcp":
        reader, writer = await asyncio.open_connection("127.0.0.1", stub.port)
        try:
            writer.write(mbap_frame(0x1234, unit, pdu))
            head = await asyncio.wait_for(reader.readexactly(7), 2)
            tid, pid, length, u = struct.unpack(">HHHB", head)
            assert (tid, pid, u) == (0x1234, 0, unit)
            return await reader.readexactly(length - 1)
        finally:
            writer.close()
            await writer.wait_closed()
    port = RawPort(stub.port)
    try:
        port.write(rtu_frame(unit, pdu))
        head, _ = await port.read(3)
        n = 2 if head[1] & 0x80 else head[2] + 2 if head[1] in (1, 2, 3, 4) else 5
        rest, _ = await port.read(n)
        frame = head + rest
        assert crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]
        return frame[1:-2]
    finally:
        port.close()


async def test_rtu_frames_with_a_bad_crc_are_counted_and_not_answered():
    async with modbus_stub("rtu") as stub:
        port = RawPort(stub.port)
        try:
            good = rtu_frame(1, struct.pack(">BHH", 4, 0, 1))
            port.write(good[:-1] + bytes([good[-1] ^ 0xFF]))
            await stub.wait_until(lambda: stub.counters["frame_errors"] == 1)
            port.write(good)
            answer, _ = await port.read(7)  # the first bytes back answer the good frame
            assert answer[:3] == bytes([1, 4, 2])
            assert port.pending() == b""
            port.write(b"\x01\x04")  # a fragment: too short to be a frame
            await stub.wait_until(lambda: stub.counters["frame_errors"] == 2)
        finally:
            port.close()
        assert stub.counters["rx_frames"] == 1


async def test_rtu_broadcast_writes_are_executed_without_an_answer():
    got, sink = recorder()
    async with modbus_stub("rtu", on_command=sink) as stub:
        port = RawPort(stub.port)
        try:
            port.write(rtu_frame(0, struct.pack(">BHH", 5, 7, 0x0000)))
            await stub.wait_until(lambda: stub.counters["rx_frames"] == 1)
            assert got == [("compute.rack.8.enabled", 0.0)]
            port.write(rtu_frame(1, struct.pack(">BHH", 1, 7, 1)))
            answer, _ = await port.read(6)
            assert answer[:4] == bytes([1, 1, 1, 0])
        finally:
            port.close()


async def test_tcp_garbage_headers_close_the_connection_and_count():
    async with modbus_stub("tcp") as stub:
        reader, writer = await asyncio.open_connection("127.0.0.1", stub.port)
        writer.write(b"\x00\x01\x00\x07\x00\x06\x01\x04\x00\x00\x00\x01")  # protocol id 7
        assert await asyncio.wait_for(reader.read(16), 2) == b""  # closed by the board
        writer.close()
        await writer.wait_closed()
        assert stub.counters["frame_errors"] == 1
        async with client(stub) as c:  # and the board still serves others
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()

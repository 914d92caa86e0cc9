"""Each fault mode of a stub board has its visible effect, and clears."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymodbus.exceptions import ConnectionException, ModbusIOException
from stubkit import BOARDS, SILENT, ManualClock, RawPort, client, constant, modbus_stub

from hil.boardfile import decode_block
from hil.modbus import rtu_frame
from twin.errors import CommandError

BUS_V = "power.bus.voltage_v"
ADC_V = BOARDS["power"].field_at("input_registers", 16).max_error  # 14-bit ADC + 10 mV LSB


async def bus_voltage(c) -> float:
    r = await c.read_input_registers(16, count=1, device_id=1)
    return r.registers[0] / 100


@pytest.fixture(params=["tcp", "rtu"])
def transport(request):
    return request.param


async def test_sensor_stuck_holds_the_reading_while_the_truth_moves(transport):
    src = constant({BUS_V: 120.0})
    async with modbus_stub(transport, source=src) as stub, client(stub) as c:
        await stub.inject_fault("sensor_stuck", BUS_V)
        src.values[BUS_V] = 110.0
        stub.sample()
        assert await bus_voltage(c) == pytest.approx(120.0, abs=ADC_V)
        fid = await stub.inject_fault("sensor_stuck", BUS_V, {"value": 99.5})
        stub.sample()
        assert await bus_voltage(c) == pytest.approx(99.5, abs=ADC_V)
        await stub.clear_fault(fid)
        stub.sample()
        assert await bus_voltage(c) == pytest.approx(110.0, abs=ADC_V)


async def test_sensor_drift_grows_with_sample_time():
    clock = ManualClock(0.0)
    async with modbus_stub("tcp", source=constant({BUS_V: 120.0}, clock)) as stub, \
            client(stub) as c:
        await stub.inject_fault("sensor_drift", BUS_V, {"rate_per_h": -2.0})
        stub.sample()
        assert await bus_voltage(c) == pytest.approx(120.0, abs=ADC_V)
        clock.t = 5400.0  # 1.5 h later
        stub.sample()
        assert await bus_voltage(c) == pytest.approx(117.0, abs=ADC_V)


async def test_sensor_noise_scatters_readings():
    async with modbus_stub("tcp", source=constant({BUS_V: 120.0})) as stub, client(stub) as c:
        await stub.inject_fault("sensor_noise", BUS_V, {"std": 1.0})
        readings = set()
        for _ in range(20):
            stub.sample()
            readings.add(await bus_voltage(c))
        assert len(readings) > 10 and all(110 < v < 130 for v in readings)


async def test_dropout_means_no_answer_until_cleared(transport):
    async with modbus_stub(transport) as stub:
        await stub.inject_fault("dropout")
        async with client(stub, timeout=SILENT) as c:
            with pytest.raises(ModbusIOException):
                await c.read_input_registers(0, count=1, device_id=1)
        assert stub.counters["rx_frames"] == 1  # heard, not answered
        await stub.clear_fault(kind="dropout")
        async with client(stub) as c:
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()


async def test_garbage_replaces_the_answer():
    async with modbus_stub("rtu") as stub:
        await stub.inject_fault("garbage", params={"length": 9})
        port = RawPort(stub.port)
        try:
            port.write(rtu_frame(1, bytes([4, 0, 0, 0, 1])))
            junk, _ = await port.read(9)
        finally:
            port.close()
        assert junk != rtu_frame(1, bytes([4, 2]) + junk[3:5])[:9]
        async with client(stub, timeout=SILENT) as c:
            with pytest.raises(ModbusIOException):
                await c.read_input_registers(0, count=1, device_id=1)


async def test_slow_answers_arrive_late(transport):
    async with modbus_stub(transport) as stub, client(stub) as c:
        await stub.inject_fault("slow", params={"delay_s": 0.25})
        t0 = time.monotonic()
        assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()
        assert time.monotonic() - t0 >= 0.25


async def test_reset_restarts_uptime_counters_and_settings():
    clock = ManualClock(1000.0)
    async with modbus_stub("tcp", clock=clock) as stub, client(stub) as c:
        assert not (await c.write_register(1, 10000, device_id=1)).isError()  # 100.00 V
        clock.t = 1500.0
        r = await c.read_input_registers(0, count=12, device_id=1)
        d = decode_block(stub.board, "input_registers", 0, r.registers)
        assert d["status.uptime_s"].value == 500 and d["status.rx_frames"].value == 2
        await stub.inject_fault("reset")
        r = await c.read_input_registers(0, count=12, device_id=1)
        d = decode_block(stub.board, "input_registers", 0, r.registers)
        assert d["status.uptime_s"].value == 0 and d["status.rx_frames"].value == 1
        assert d["status.sample_count"].value == 0
        assert (await c.read_holding_registers(1, count=1, device_id=1)).registers == [11400]


async def test_tcp_link_down_closes_the_port_and_clearing_reopens_it():
    async with modbus_stub("tcp") as stub:
        port = stub.port
        async with client(stub) as c:
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()
            await stub.inject_fault("link_down")
            with pytest.raises((ModbusIOException, ConnectionException)):
                await c.read_input_registers(0, count=1, device_id=1)
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        await stub.clear_fault()
        assert stub.port == port
        async with client(stub) as c:
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()


async def test_serial_link_down_hears_nothing_until_cleared():
    async with modbus_stub("rtu") as stub:
        await stub.inject_fault("link_down")
        async with client(stub, timeout=SILENT) as c:
            with pytest.raises(ModbusIOException):
                await c.read_input_registers(0, count=1, device_id=1)
        assert stub.counters["rx_frames"] == 0
        await stub.clear_fault(kind="link_down")
        async with client(stub) as c:
            assert not (await c.read_input_registers(0, count=1, device_id=1)).isError()


async def test_fault_requests_are_checked():
    async with modbus_stub("tcp") as stub:
        with pytest.raises(CommandError, match="not a channel of this board"):
            await stub.inject_fault("sensor_stuck", "compute.rack.1.gpu.1.temp_c")
        with pytest.raises(CommandError, match="unknown stub fault kind"):
            await stub.inject_fault("meltdown")
        with pytest.raises(CommandError, match="unknown parameter 'rate'"):
            await stub.inject_fault("sensor_drift", BUS_V, {"rate": 1})
        fid = await stub.inject_fault("slow", params={"delay_s": 0.1})
        assert stub.list_faults() == [{"id": fid, "kind": "slow", "target": "",
                                       "params": {"delay_s": 0.1}}]
        await stub.clear_fault(fid)
        assert stub.list_faults() == []

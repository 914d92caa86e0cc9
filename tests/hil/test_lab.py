"""``twin serve --boards FILE``: a lab file, checked strictly, and the twin against the boards it
names — here firmware stubs started by the test on a pty (by its device path) and on a loopback
TCP port, exactly as a lab points at real boards."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from hilkit import CAT, new_twin, until

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.boardfile import load_boards
from hil.lab import LabBoards, board_writes, load_lab, run_lab
from twin.embedded import command_sink
from twin.errors import ConfigError
from twin.runtime import GOOD

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "lab-example.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "lab.toml"
    p.write_text(text, encoding="utf-8")
    return p


# --- the file --------------------------------------------------------------------------------
def test_the_example_lab_file_loads_with_each_board_where_it_says():
    lab = load_lab(EXAMPLE, CAT)
    assert lab.name == "bench-1"
    where = {b.name: (b.board.protocol, b.where) for b in lab.boards}
    assert where == {"power": ("modbus_rtu", "/dev/ttyUSB0"),
                     "thermal": ("modbus_tcp", "192.168.1.20:502"),
                     "rack": ("ascii", "/dev/ttyUSB1")}


def test_overrides_replace_the_board_files_link_settings_and_poller_options(tmp_path):
    lab = load_lab(write(tmp_path, """
[[board]]
name = "power"
device = "/dev/ttyS3"
baud = 19200
parity = "E"
timeout_s = 0.3
poll_period_s = 0.5
retries = 0
[[board]]
name = "thermal"
host = "bench-thermal.local"
"""), CAT)
    power, thermal = lab.boards
    ln = power.board.link
    assert (ln.baud, ln.parity, ln.timeout_s, ln.retries) == (19200, "E", 0.3, 0)
    assert dict(power.poller_options) == {"period_s": 0.5}
    shipped = load_boards(CAT)
    assert power.board.link.stopbits == shipped["power"].link.stopbits  # the rest: the file's
    assert power.board.fields == shipped["power"].fields
    assert thermal.where == f"bench-thermal.local:{shipped['thermal'].link.port}"


BAD = [
    ("", "board", "this key to be present"),
    ("board = []", "board", "at least one [[board]]"),
    ("[[board]]\ndevice = '/dev/ttyUSB0'", "board[0].name", "this key to be present"),
    ("[[board]]\nname = 'pwr'\ndevice = '/dev/x'", "board[0].name", "power, rack, thermal"),
    ("[[board]]\nname = 'power'", "board[0].device", "a serial device"),
    ("[[board]]\nname = 'thermal'\nport = 502", "board[0].host", "a host"),
    ("[[board]]\nname = 'thermal'\nhost = 'h'\ndevice = '/dev/x'", "board[0].device",
     "Modbus TCP"),
    ("[[board]]\nname = 'thermal'\nhost = 'h'\nbaud = 9600", "board[0].baud", "Modbus TCP"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nhost = 'h'", "board[0].host",
     "serial line"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nport = 502", "board[0].port",
     "serial line"),
    ("[[board]]\nname = 'thermal'\nhost = 'h'\nport = 70000", "board[0].port", "<= 65535"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nbaud = 'fast'", "board[0].baud",
     "an integer"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nparity = 'X'", "board[0].parity",
     "'N', 'E', 'O'"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\ntimeout_s = 0", "board[0].timeout_s",
     "> 0"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\ntelemetry_period_s = 1.0",
     "board[0].telemetry_period_s", "poll_period_s"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nstatus_query_s = 1.0",
     "board[0].status_query_s", "every poll is timed"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nretries = 11", "board[0].retries",
     "<= 10"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\nbuad = 9600", "board[0].buad",
     "known keys"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\n[[board]]\nname = 'power'\n"
     "device = '/dev/y'", "board[1].name", "each board listed once"),
    ("[[board]]\nname = 'power'\ndevice = '/dev/x'\n[[board]]\nname = 'rack'\n"
     "device = '/dev/x'", "board[1].device", "ASCII line cannot be shared"),
    ("[lab]\nboards_dir = 'nowhere'\n[[board]]\nname = 'power'\ndevice = '/dev/x'",
     "lab.boards_dir", "a folder of board files"),
    ("[lab]\nname = 3\n[[board]]\nname = 'power'\ndevice = '/dev/x'", "lab.name",
     "a string"),
    ("[labs]\n[[board]]\nname = 'power'\ndevice = '/dev/x'", "labs", "known keys"),
    ("[[board]\nname = 'power'", "", "valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD,
                         ids=[f"{k or 'toml'}-{i}" for i, (_, k, _) in enumerate(BAD)])
def test_a_bad_lab_file_stops_with_one_error_naming_file_key_value_and_expectation(
        tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_lab(path, CAT)
    assert err.value.file == str(path)
    assert err.value.key == key
    assert expected in err.value.expected, str(err.value)
    assert str(path) in str(err.value)


def test_two_rtu_boards_on_one_line_need_other_ids_and_the_same_settings(tmp_path):
    (tmp_path / "boards").mkdir()
    shipped = (EXAMPLE.parent / "boards" / "power.toml").read_text(encoding="utf-8")
    (tmp_path / "boards" / "power.toml").write_text(shipped, encoding="utf-8")
    (tmp_path / "boards" / "power2.toml").write_text(
        shipped.replace('name = "power"', 'name = "power2"')
        .replace("device_id = 1", "device_id = 2"), encoding="utf-8")
    base = ("[lab]\nboards_dir = 'boards'\n[[board]]\nname = 'power'\ndevice = '/dev/x'\n"
            "[[board]]\nname = 'power2'\ndevice = '/dev/x'\n")
    lab = load_lab(write(tmp_path, base), CAT)
    assert [b.board.device_id for b in lab.boards] == [1, 2]
    with pytest.raises(ConfigError) as err:
        load_lab(write(tmp_path, base + "baud = 9600\n"), CAT)
    assert err.value.key == "board[1].baud" and "same line" in err.value.expected


def test_a_missing_lab_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_lab(tmp_path / "nope.toml", CAT)


def test_twin_commands_map_to_the_board_channels_that_carry_them_out():
    twin = new_twin()
    assert board_writes(twin, "SetPumpSpeed", {"pump": 2, "speed_pct": 55.0}) == [
        ("thermal.pump.2.speed_pct", 55.0)]
    assert board_writes(twin, "SetRackEnabled", {"rack": 3, "enabled": False}) == [
        ("compute.rack.3.enabled", 0.0)]
    mode = twin.catalogue["power.battery.1.heater_mode"].enum[2]
    assert board_writes(twin, "SetHeaterMode", {"string": 1, "mode": mode}) == [
        ("power.battery.1.heater_mode", 2.0)]
    assert board_writes(twin, "Pause", {}) == []


# --- against boards on wires -----------------------------------------------------------------
@contextlib.asynccontextmanager
async def boards_on_wires(twin, tmp_path, world=None):
    """Stubs as stand-alone boards (sensing the plant, commands recorded), and a lab file
    pointing at them: the power board's and the rack's pty paths, the thermal board's port.
    With ``world`` (a twin), the boards sense its plant and obey the commands they receive."""
    boards = load_boards(CAT)
    received: list[tuple[str, str, float]] = []
    stubs = []
    sensed = world if world is not None else twin
    obey = command_sink(world) if world is not None else None
    try:
        for name in ("power", "thermal", "rack"):
            def record(path, value, name=name):
                received.append((name, path, value))
                if obey is not None:
                    obey(path, value)
            kw = {"host": "127.0.0.1", "port": 0} if name == "thermal" else {}
            stubs.append(await make_stub(boards[name], plant_source(sensed.plant, CAT),
                                         on_command=record, **kw).start())
        power, thermal, rack = stubs
        path = write(tmp_path, f"""
[lab]
name = "test-bench"
[[board]]
name = "power"
device = "{power.port}"
[[board]]
name = "thermal"
host = "127.0.0.1"
port = {thermal.port}
[[board]]
name = "rack"
device = "{rack.port}"
""")
        yield load_lab(path, CAT), received, dict(zip(("power", "thermal", "rack"), stubs,
                                                       strict=True))
    finally:
        for s in stubs:
            await s.close()


def measured_status(twin, lab):
    idx = [twin.catalogue[p].index for p in lab.sync.sources]
    return twin.mirror.status[idx]


async def test_the_twin_polls_the_lab_boards_and_forwards_its_commands_to_them(tmp_path):
    twin = new_twin(mode="realtime")
    stop = asyncio.Event()
    async with boards_on_wires(twin, tmp_path) as (lab_config, received, _), \
            LabBoards(twin, lab_config) as lab:
        task = asyncio.get_running_loop().create_task(twin.run(stop))
        try:
            assert set(lab.pollers) == {"power", "thermal", "rack"}
            await until(lambda: bool(np.all(measured_status(twin, lab) == GOOD)), 5.0)
            res = twin.commands.call("SetPumpSpeed", {"pump": 2, "speed_pct": 55.0})
            assert res.ok, res
            res = twin.commands.call("SetRackEnabled", {"rack": 3, "enabled": False})
            assert res.ok, res
            await lab.settle()
            assert all(r.ok for r in lab.forwarded), lab.forwarded
            assert ("thermal", "thermal.pump.2.speed_pct", 55.0) in received
            # the rack enable is on the power board (load switch) and the rack controller
            assert ("power", "compute.rack.3.enabled", 0.0) in received
            assert ("rack", "compute.rack.3.enabled", 0.0) in received
            await until(lambda: twin.mirror.value("thermal.pump.2.speed_pct") == 55.0, 3.0)
        finally:
            stop.set()
            await task


async def test_heater_mode_on_is_confirmed_by_both_boards_and_the_world_stays_on(tmp_path):
    """SetHeaterMode "on" goes to the thermal board's mode register (2) and the power board's
    heater feed switch (1): both confirm, whichever lands first, and the mode the boards'
    world ends in, and the twin's mirror shows, is "on", not the switch's "auto"."""
    world = new_twin()  # the boards sense and obey a plant of their own
    twin = new_twin(mode="realtime")
    path = "power.battery.1.heater_mode"
    enum = list(CAT[path].enum)
    stop = asyncio.Event()
    async with boards_on_wires(twin, tmp_path, world=world) as (lab_config, received, _), \
            LabBoards(twin, lab_config) as lab:
        task = asyncio.get_running_loop().create_task(twin.run(stop))
        try:
            await until(lambda: bool(np.all(measured_status(twin, lab) == GOOD)), 5.0)
            for mode in ("off", "on", "auto", "on"):
                assert twin.commands.call("SetHeaterMode", {"string": 1, "mode": mode}).ok
                await lab.settle()
                assert all(r.ok for r in lab.forwarded), lab.forwarded
                assert enum[world.plant.inputs.heater_mode[0]] == mode, (mode, received)
            assert len(lab.forwarded) == 8  # each mode to both boards
            i = CAT[path].index
            await until(lambda: twin.mirror.values[i] == enum.index("on")
                        and twin.mirror.status[i] == GOOD, 3.0)
        finally:
            stop.set()
            await task


async def test_a_failed_forward_is_an_event_naming_the_board(tmp_path):
    twin = new_twin(mode="realtime")
    async with boards_on_wires(twin, tmp_path) as (lab_config, _, stubs), \
            LabBoards(twin, lab_config) as lab:
        await stubs["thermal"].close()  # the thermal board is gone
        res = twin.commands.call("SetPumpSpeed", {"pump": 1, "speed_pct": 40.0})
        assert res.ok  # the twin's model took it; the board could not
        await lab.settle()
        assert [r.ok for r in lab.forwarded] == [False]
        ev = [e for e in twin.events if e.kind == "board"]
        assert ev and "thermal" in ev[-1].message and ev[-1].severity == 700


async def test_run_lab_serves_the_lab_boards_values_over_opc_ua_and_stops_cleanly(tmp_path):
    twin = new_twin(mode="realtime")
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/lab"
    stop, out = asyncio.Event(), io.StringIO()
    async with boards_on_wires(twin, tmp_path) as (lab_config, _, _):
        task = asyncio.get_running_loop().create_task(run_lab(
            twin, lab_config, endpoint, tmp_path / "state", stop, allow_none=True,
            anonymous=True, out=out))
        try:
            await until(lambda: "listening" in out.getvalue() or task.done(), 30.0)
            assert not task.done(), task.exception()
            async with Client(endpoint, timeout=20) as client:
                node = client.get_node("ns=2;s=thermal.radiator.1.temp_c")
                dv = await node.read_data_value(raise_on_bad_status=False)
                deadline = asyncio.get_running_loop().time() + 5.0
                while dv.StatusCode.value != ua.StatusCodes.Good:
                    assert asyncio.get_running_loop().time() < deadline, dv
                    seen = twin.mirror.version  # the next sync, then the publisher's next go
                    await until(lambda seen=seen: twin.mirror.version > seen, 1.0)
                    dv = await node.read_data_value(raise_on_bad_status=False)
                assert abs(dv.Value.Value - twin.mirror.value("thermal.radiator.1.temp_c")) < 1
        finally:
            stop.set()
            await asyncio.wait_for(task, 10.0)

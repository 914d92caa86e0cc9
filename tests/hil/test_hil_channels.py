"""The boards' link statistics and residuals as catalogue channels, over real wires.

A twin built with the shipped boards (``Twin(config, boards=...)``) runs the firmware stubs on a
pty pair (power, Modbus RTU), loopback TCP (thermal) and a pty (rack, ASCII); the stubs' fault
modes take a board off the line (``link_down``) or fail one of its sensors (``sensor_stuck``,
``sensor_drift``), and the twin's alarm book must say so on the ``hil.*`` channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from hilkit import BOARDS, CAT, CFG, boards_twin, new_twin, until

from hil.boardfile import default_residual, load_boards, parse_board
from hil.stats import CHANNEL_QUANTITIES
from twin.embedded import EmbeddedBoards, embedded_twin, stub_boards
from twin.errors import ConfigError
from twin.opcua.addressspace import MAX_CHILDREN, UNECE_NAMESPACE, unit_id
from twin.opcua.server import ServerOptions, TwinServer
from twin.runtime import BAD_NO_COMMUNICATION, GOOD

ONLY_ON = {"power": "power.bus.voltage_v", "thermal": "thermal.radiator.1.temp_c",
           "rack": "compute.rack.1.gpu.1.temp_c"}  # a channel each board alone measures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def running(speed: float = 1.0):
    twin = boards_twin(mode="realtime", speed=speed)
    stop = asyncio.Event()
    async with EmbeddedBoards(twin) as hil:
        task = asyncio.get_running_loop().create_task(twin.run(stop))
        try:
            yield twin, hil
        finally:
            stop.set()
            await task


def value(twin, path):
    return twin.mirror.value(path)


def status(twin, path):
    return int(twin.mirror.status[twin.catalogue[path].index])


def alarm_state(twin, path):
    alarm = twin.alarms.alarms.get(path)
    return alarm.state if alarm is not None else "ok"


def alarm_states(twin, prefix):
    """(path, state) of every alarm event on channels starting with ``prefix``, in order."""
    return [(e.data["path"], e.data["state"]) for e in twin.events
            if e.kind == "alarm" and "previous" in e.data
            and e.data["path"].startswith(prefix)]


async def boards_answer(twin):
    for b in BOARDS:
        await until(lambda b=b: value(twin, f"hil.{b}.online") == 1.0, 5.0)


# --- the catalogue ---------------------------------------------------------------------------
def test_the_default_boards_have_link_and_residual_channels_with_units_and_limits():
    twin = boards_twin()
    cat = twin.catalogue
    assert not any(c.path.startswith("hil.") for c in new_twin().catalogue.channels)
    for name, board in BOARDS.items():
        for q in CHANNEL_QUANTITIES:
            assert f"hil.{name}.{q}" in cat
        assert cat[f"hil.{name}.online"].red == (0.5, None)
        timeout_ms = board.link.timeout_s * 1000
        assert cat[f"hil.{name}.latency_ms"].yellow == (None, timeout_ms / 2)
        assert cat[f"hil.{name}.timeouts"].dtype == "int"
    res = cat["hil.residual.thermal.radiator.1.temp_c"]  # noise 0.05 °C, 0.01 °C steps
    assert (res.unit, res.yellow, res.red) == ("°C", (-0.32, 0.32), (-0.64, 0.64))
    volts = cat["hil.residual.power.bus.voltage_v"]  # 14-bit ADC over 200 V: 12.2 mV steps
    assert volts.unit == "V" and volts.yellow[1] == default_residual(0.02, 200 / (2**14 - 1))
    # the battery temperatures are on both boards: the power board's looser limits apply
    assert cat["hil.residual.power.battery.1.temp_c"].yellow == (-0.32, 0.32)
    assert cat["hil.residual.compute.rack.16.gpu.8.power_w"].unit == "W"
    for no_residual in ("power.pcdu.rack.1.on", "compute.rack.1.gpu.1.state",
                        "thermal.pump.1.speed_pct", "power.pcdu.shed_level",
                        "power.array.1.power_w"):  # a state, a command, an int, unmeasured
        assert f"hil.residual.{no_residual}" not in cat
    measured = {p for b in BOARDS.values() for p in b.residual_limits()}
    assert len(cat.select(["hil.residual.*"])) == len(measured) > 600


def test_a_board_file_can_set_a_residual_tolerance_but_only_where_there_is_a_residual():
    text = Path(BOARDS["thermal"].source).read_text(encoding="utf-8")
    tuned = text.replace('noise = 0.05\n', 'noise = 0.05\nresidual_tolerance = 1.5\n', 1)
    board = parse_board(tuned, CAT, "tuned.toml")
    assert board.residual_limits()["thermal.radiator.1.temp_c"] == (1.5, 3.0)
    twin = new_twin(boards=[board])
    assert twin.catalogue["hil.residual.thermal.radiator.3.temp_c"].red == (-3.0, 3.0)
    wrong = text.replace('path = "thermal.pump.{i}.running"\n',
                         'path = "thermal.pump.{i}.running"\nresidual_tolerance = 1\n')
    with pytest.raises(ConfigError, match=r"discrete_inputs\[0\]\.residual_tolerance.*no "
                                          r"residual"):
        parse_board(wrong, CAT, "wrong.toml")
    with pytest.raises(ConfigError, match=r"board\.name"):
        parse_board(text.replace('name = "thermal"', 'name = "residual"', 1), CAT, "r.toml")


def test_two_board_files_with_one_name_are_refused(tmp_path):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.toml").write_text(
            Path(BOARDS["thermal"].source).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError, match="no other board file"):
        load_boards(CAT, tmp_path)


def test_the_embedded_builder_makes_a_twin_with_its_boards_channels():
    twin = embedded_twin(CFG, seed=3)
    assert "hil.rack.online" in twin.catalogue
    assert {b.name for b in twin.boards} == set(stub_boards(twin.config)) == set(BOARDS)


# --- over the wires --------------------------------------------------------------------------
async def test_link_channels_count_the_polls_and_match_the_pollers_statistics():
    async with running() as (twin, hil):
        await boards_answer(twin)
        assert alarm_states(twin, "hil.") == []  # no link alarm while the boards started
        first = {b: value(twin, f"hil.{b}.polls") for b in BOARDS}
        await until(lambda: all(value(twin, f"hil.{b}.polls") >= first[b] + 5 for b in BOARDS),
                    5.0)
        hil.sync.apply()  # no await from here: the mirror and the pollers at one instant
        for name, p in hil.pollers.items():
            st = p.stats
            assert [value(twin, f"hil.{name}.{q}") for q in
                    ("polls", "timeouts", "errors", "exceptions", "link_down")] == [
                st.polls, st.timeouts, st.errors, st.exceptions, st.link_down]
            assert value(twin, f"hil.{name}.latency_ms") == pytest.approx(st.latency_ms())
            assert all(status(twin, f"hil.{name}.{q}") == GOOD for q in CHANNEL_QUANTITIES)
            latency = twin.catalogue[f"hil.{name}.latency_ms"]
            assert 0 < value(twin, latency.path) < latency.yellow[1], name


@pytest.mark.parametrize("board", ["power", "thermal", "rack"])
async def test_a_board_taken_offline_raises_a_link_alarm_that_clears_when_it_returns(board):
    online, residual = f"hil.{board}.online", f"hil.residual.{ONLY_ON[board]}"
    async with running() as (twin, hil):
        await boards_answer(twin)
        await until(lambda: status(twin, residual) == GOOD, 3.0)
        period = hil.pollers[board].period_s
        await hil.stubs[board].inject_fault("link_down")
        await until(lambda: alarm_state(twin, online) == "red-low", 2 * period + 1.0)
        assert value(twin, online) == 0.0 and status(twin, online) == GOOD
        assert twin.alarms.alarms[online].severity == 800
        assert math.isnan(value(twin, residual))
        assert status(twin, residual) == BAD_NO_COMMUNICATION
        await until(lambda: value(twin, f"hil.{board}.timeouts")
                    + value(twin, f"hil.{board}.link_down") >= 1, 2.0)  # the failed polls
        await hil.stubs[board].clear_fault(kind="link_down")
        await until(lambda: alarm_state(twin, online) == "ok", 3.0)
        await until(lambda: status(twin, residual) == GOOD, 3.0)
        # (on a loaded machine another 10 Hz board may miss its 0.2 s window and flicker)
        states = [s for p, s in alarm_states(twin, "hil.") if p == online]
        assert states[0] == "red-low" and states[-1] == "ok", states


async def test_a_stuck_sensor_raises_a_residual_alarm_that_clears_with_the_fault():
    path = "thermal.radiator.1.temp_c"
    residual = f"hil.residual.{path}"
    async with running(speed=10.0) as (twin, hil):
        await until(lambda: status(twin, residual) == GOOD, 5.0)
        assert abs(value(twin, residual)) < twin.catalogue[residual].yellow[1]
        stub = hil.stubs["thermal"]
        fid = await stub.inject_fault("sensor_stuck", path, {"value": value(twin, path) + 5.0})
        await until(lambda: alarm_state(twin, residual) == "red-high", 3.0)
        assert value(twin, residual) == pytest.approx(5.0, abs=1.5)  # stuck while it moves
        assert twin.alarms.alarms[residual].severity == 800
        await stub.clear_fault(fid)
        await until(lambda: alarm_state(twin, residual) == "ok", 3.0)
        assert alarm_states(twin, "hil.residual.") == [(residual, "red-high"), (residual, "ok")]


async def test_a_drifting_sensor_turns_its_residual_yellow_then_red():
    path = "power.bus.voltage_v"
    residual = f"hil.residual.{path}"
    async with running(speed=5.0) as (twin, hil):
        await until(lambda: status(twin, residual) == GOOD, 5.0)
        red = twin.catalogue[residual].red[1]
        rate_per_h = red / 8.0 * 3600.0  # yellow after ~4 simulated seconds, red after ~8
        await hil.stubs["power"].inject_fault("sensor_drift", path, {"rate_per_h": rate_per_h})
        await until(lambda: alarm_state(twin, residual) == "red-high", 10.0)
        states = [s for p, s in alarm_states(twin, "hil.") if p == residual]
        assert states[0] == "yellow-high" and states[-1] == "red-high", states
        assert {p for p, _ in alarm_states(twin, "hil.residual.")} == {residual}


async def test_residuals_stay_within_their_limits_at_ten_times_real_time():
    """The model is compared at each board's sample time, so the lag of a board polled once a
    second (ten simulated seconds at 10×) raises no residual alarm."""
    async with running(speed=10.0) as (twin, hil):
        await boards_answer(twin)
        t0 = twin.plant.t_s
        await until(lambda: twin.plant.t_s >= t0 + 40.0, 10.0)
        idx = [c.index for c in twin.catalogue.select(["hil.residual.*"])]
        await until(lambda: bool(np.all(twin.mirror.status[idx] == GOOD)), 3.0)
        assert alarm_states(twin, "hil.residual.") == []
        assert len(hil.sync.residuals) >= len(idx)


# --- OPC UA ----------------------------------------------------------------------------------
async def test_the_hil_channels_are_in_the_opc_ua_address_space(tmp_path):
    twin = boards_twin(mode="realtime")
    srv = TwinServer(twin, ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/hil",
                                         state_dir=tmp_path, allow_none=True, anonymous=True))
    await srv.start()
    stop = asyncio.Event()
    try:
        async with EmbeddedBoards(twin):
            task = asyncio.get_running_loop().create_task(twin.run(stop))
            try:
                async with Client(srv.url, timeout=20) as c:
                    online = c.get_node("ns=2;s=hil.thermal.online")
                    residual = c.get_node("ns=2;s=hil.residual.thermal.radiator.1.temp_c")
                    polls = c.get_node("ns=2;s=hil.power.polls")
                    for node in (online, residual):  # Good once the boards' values are out
                        dv = await node.read_data_value(raise_on_bad_status=False)
                        deadline = asyncio.get_running_loop().time() + 5.0
                        while dv.StatusCode.value != ua.StatusCodes.Good or dv.Value.Value is None:
                            assert asyncio.get_running_loop().time() < deadline, dv
                            seen = twin.mirror.version
                            await until(lambda seen=seen: twin.mirror.version > seen, 2.0)
                            dv = await node.read_data_value(raise_on_bad_status=False)
                    assert await online.read_value() is True
                    assert await online.read_data_type() == ua.NodeId(ua.ObjectIds.Boolean)
                    assert await polls.read_data_type() == ua.NodeId(ua.ObjectIds.Int32)
                    assert await residual.read_type_definition() == ua.NodeId(
                        ua.ObjectIds.AnalogItemType)
                    eu = await (await residual.get_child("0:EngineeringUnits")).read_value()
                    assert (eu.NamespaceUri, eu.UnitId) == (UNECE_NAMESPACE, unit_id("CEL"))
                    state = await (await residual.get_child("2:LimitState")).read_value()
                    assert state == "ok"
                    path = await residual.get_path(as_string=True)
                    assert path[-6:] == ["2:Satellite", "2:Hil", "2:Residual", "2:Thermal",
                                         "2:Radiator1", "2:temp_c"]
            finally:
                stop.set()
                await task
        assert srv.server is not None and srv.nodes is not None
        aspace, ns = srv.server.iserver.aspace, srv.nodes.ns
        hierarchical = {ua.NodeId(i) for i in (ua.ObjectIds.HasComponent, ua.ObjectIds.Organizes,
                                               ua.ObjectIds.HasProperty)}
        ours = [nid for nid in list(aspace.keys()) if nid.NamespaceIndex == ns]
        children = {nid.Identifier: sum(1 for r in aspace[nid].references
                                        if r.IsForward and r.ReferenceTypeId in hierarchical)
                    for nid in ours}
        assert children["hil"] == 1 + len(BOARDS)  # Residual and one object per board
        assert children["hil.residual.compute"] == 16  # the racks, nested as in compute
        assert max(children.values()) <= MAX_CHILDREN
    finally:
        await srv.stop()

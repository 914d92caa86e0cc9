"""Pollers over real wires (loopback TCP, pty pairs) against the firmware stubs.

Expected values are the plant's truth; the tolerance is each field's stated quantisation
(``Field.max_error``, the *quantisation ±* column of docs/boards.md), noise switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import struct
import time
import tty

import pytest
from hilkit import BOARDS, CAT, CFG, max_error

from firmware_stubs import make_stub
from firmware_stubs.rtu import RtuStub
from firmware_stubs.sources import plant_source
from firmware_stubs.tcp import TcpStub
from hil.boardfile import Flag
from hil.modbus import LinkError, read_request, rtu_frame
from hil.poller import ModbusPoller, make_poller
from hil.transport import PtyPair, RtuMaster, SerialBus, TcpMaster
from twin.model.plant import Plant


@pytest.fixture(scope="module")
def plant():
    p = Plant(CFG)
    p.run(600, 1.0)  # ten minutes in: values have moved off their start
    return p


def with_link(board, **link):
    """``board`` with other ``[link]`` settings, as a board file would give them."""
    return dataclasses.replace(board, link=dataclasses.replace(board.link, **link))


@contextlib.asynccontextmanager
async def wired(board_name, transport, source, board=None, **stub_kw):
    """A stub of ``board_name`` (or ``board``) on ``transport`` ("tcp" or "pty") and a started
    poller."""
    board = board or BOARDS[board_name]
    stub_kw.setdefault("noise", False)
    with PtyPair() as pty:
        if transport == "tcp":
            stub = TcpStub(board, source, **stub_kw)
        elif board.protocol == "ascii":
            stub = make_stub(board, source, device=pty.path, **stub_kw)
        else:
            stub = RtuStub(board, source, device=pty.path, **stub_kw)
        async with stub:
            if transport == "tcp":
                poller = ModbusPoller(board, TcpMaster("127.0.0.1", stub.port, board.device_id,
                                                       board.link.timeout_s))
            elif board.protocol == "ascii":
                poller = make_poller(board, device=pty.master_fd)
            else:
                bus = SerialBus(pty.master_fd, baud=board.link.baud)
                poller = ModbusPoller(board, RtuMaster(bus, board.device_id, 0.2))
            async with poller:
                yield stub, poller


@pytest.mark.parametrize(("board_name", "transport"), [
    ("power", "pty"), ("power", "tcp"), ("thermal", "tcp"), ("thermal", "pty"), ("rack", "pty")])
async def test_a_poller_decodes_the_plant_truth_within_the_quantisation(plant, board_name,
                                                                        transport):
    truth = CAT.sample(plant)
    errors = max_error(board_name)
    async with wired(board_name, transport, plant_source(plant, CAT)) as (_, poller):
        await poller.wait_until(lambda: all(p in poller.values for p in poller.paths), 5.0)
        assert poller.link_state() == "good"
        checked = 0
        for path in poller.paths:
            d = poller.values[path]
            want = float(truth[CAT[path].index])
            if d.flag != Flag.OK or not math.isfinite(want):
                continue
            assert abs(d.value - want) <= errors[path] + 1e-9, (path, d.value, want)
            checked += 1
        assert checked >= 0.8 * len(poller.paths)
        assert poller.sample_s == pytest.approx(plant.t_s, abs=1e-3)
        assert poller.stats.timeouts == poller.stats.errors == poller.stats.exceptions == 0


@pytest.mark.parametrize(("board_name", "transport"), [
    ("power", "pty"), ("thermal", "tcp"), ("rack", "pty")])
async def test_garbage_answers_are_counted_and_not_fatal(plant, board_name, transport):
    async with wired(board_name, transport, plant_source(plant, CAT)) as (stub, poller):
        await poller.wait_until(lambda: poller.link_state() == "good", 5.0)
        await stub.inject_fault("garbage", "", {"probability": 0.5, "length": 25})
        if board_name == "rack":
            await poller.command("compute.rack.1.enabled", 1)  # answers garbled too
        enough = 3 if board_name == "rack" else 20  # the rack sends once a second
        await poller.wait_until(lambda: poller.stats.errors >= enough, 20.0)
        await stub.clear_fault(kind="garbage")
        ok = poller.stats.ok
        await poller.wait_until(lambda: poller.stats.ok > ok + 5 and
                                poller.link_state() == "good", 5.0)


async def test_frames_for_another_device_id_go_unanswered_and_time_out(plant):
    board = BOARDS["power"]
    with PtyPair() as pty:
        async with RtuStub(board, plant_source(plant, CAT), device=pty.path, noise=False) as stub:
            master = RtuMaster(SerialBus(pty.master_fd), device_id=9, timeout_s=0.1)
            with pytest.raises(LinkError) as err:
                await master.transact(read_request(4, 0, 10))
            assert err.value.reason == "timeout"
            assert "device 9" in str(err.value)
            await stub.wait_until(lambda: stub.counters["foreign_frames"] == 1)
            master.bus.close()


async def test_an_illegal_address_surfaces_as_exception_02(plant):
    board = BOARDS["thermal"]
    async with TcpStub(board, plant_source(plant, CAT), noise=False) as stub:
        master = TcpMaster("127.0.0.1", stub.port, 1, 0.5)
        from hil.modbus import parse_response

        pdu = read_request(4, 9000, 1)
        with pytest.raises(LinkError) as err:
            parse_response(pdu, await master.transact(pdu), "thermal input register 9000")
        await master.close()
    assert (err.value.reason, err.value.code) == ("exception", 2)


def refuse_pump(path, value):
    if path.startswith("thermal.pump"):
        raise RuntimeError("pump controller interlocked")


@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_a_refused_command_returns_the_modbus_exception(plant, transport):
    async with wired("thermal", transport, plant_source(plant, CAT),
                     on_command=refuse_pump) as (_, poller):
        res = await poller.command("thermal.pump.1.speed_pct", 40.0)
        assert not res.ok and res.reason == "exception" and res.code == 4
        assert "exception 04 (server device failure)" in res.detail
        assert "thermal" in res.detail and "holding_registers" in res.detail
        bad = await poller.command("thermal.pump.1.speed_pct", 400.0)
        assert bad.reason == "refused" and "outside 0..100" in bad.detail


async def test_a_command_without_a_board_times_out(plant):
    board = BOARDS["power"]
    with PtyPair() as pty:
        poller = make_poller(board, device=pty.master_fd)
        res = await poller.command("compute.rack.1.enabled", 0)
        await poller.close()
    assert res.reason == "timeout" and "power" in res.detail
    assert poller.link_state() == "offline"


async def test_a_command_is_written_read_back_and_reaches_the_source(plant):
    got = []
    async with wired("power", "pty", plant_source(plant, CAT),
                     on_command=lambda p, v: got.append((p, v))) as (_, poller):
        res = await poller.command("compute.rack.2.enabled", 0)
        assert res.ok, res
        assert got == [("compute.rack.2.enabled", 0.0)]
        assert poller.values["compute.rack.2.enabled"].value == 0.0


async def test_a_nak_names_the_boards_reason(plant):
    def refuse(path, value):
        raise RuntimeError("no")

    async with wired("rack", "pty", plant_source(plant, CAT), on_command=refuse) as (_, poller):
        res = await poller.command("compute.rack.1.power_cap_w", 5000)
        assert res.reason == "nak" and res.detail.endswith("NAK FAILED")



async def test_the_rack_latency_stays_live_through_status_queries(plant):
    """Telemetry comes unasked, so it times nothing; a status query every status_query_s
    does, and a board that turns slow shows in hil.rack.latency_ms."""
    board = with_link(BOARDS["rack"], telemetry_period_s=0.5, status_query_s=0.05)
    async with wired("rack", "pty", plant_source(plant, CAT), board=board) as (stub, poller):
        await poller.wait_until(lambda: len(poller.stats.latencies_s) >= 5, 5.0)
        assert poller.link_state() == "good"
        assert poller.stats.latency_ms() < 100.0
        await stub.inject_fault("slow", params={"delay_s": 0.15})
        await poller.wait_until(lambda: poller.stats.latency_ms() >= 150.0, 20.0)
        assert poller.stats.timeouts == 0  # slow, within the 0.5 s timeout


async def test_without_status_queries_the_rack_latency_is_timed_on_commands_only(plant):
    board = with_link(BOARDS["rack"], telemetry_period_s=0.2, status_query_s=0.0)
    async with wired("rack", "pty", plant_source(plant, CAT), board=board) as (stub, poller):
        await poller.wait_until(lambda: poller.link_state() == "good"
                                and poller.stats.polls > 2 * 145, 5.0)  # two cycles heard
        timed = len(poller.stats.latencies_s)  # the start-up query for a whole cycle
        assert timed <= 1
        assert stub.counters["rx_frames"] == timed


@contextlib.contextmanager
def forgetful_board(forget: int):
    """A scripted Modbus RTU board on a pty pair that leaves the first ``forget`` requests
    unanswered and answers the rest with zeros."""
    with PtyPair() as pty:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        heard = []

        def answer() -> None:
            req = os.read(fd, 4096)
            heard.append(req)
            if len(heard) <= forget:
                return
            fn, count = req[1], struct.unpack(">H", req[4:6])[0]
            n = (count + 7) // 8 if fn in (1, 2) else 2 * count
            os.write(fd, rtu_frame(req[0], bytes([fn, n]) + bytes(n)))

        loop = asyncio.get_running_loop()
        loop.add_reader(fd, answer)
        try:
            yield pty, heard
        finally:
            loop.remove_reader(fd)
            os.close(fd)


@pytest.mark.parametrize(("retries", "ok"), [(1, False), (2, True)])
async def test_the_board_files_retries_and_timeout_are_the_pollers(retries, ok):
    board = with_link(BOARDS["power"], retries=retries, timeout_s=0.05)
    with forgetful_board(forget=2) as (pty, heard):
        poller = make_poller(board, device=pty.master_fd)
        assert (poller.retries, poller.master.timeout_s) == (retries, 0.05)
        t0 = time.monotonic()
        try:
            await poller.poll_once()
            failed = None
        except LinkError as exc:
            failed = exc
        took = time.monotonic() - t0
        await poller.close()
    assert (failed is None) == ok, failed
    # retried requests are counted here; the poll's own failure when run() fails the poll
    assert poller.stats.timeouts == (2 if ok else 1)
    if not ok:
        assert failed.reason == "timeout" and "no answer in 0.05 s" in str(failed)
        assert len(heard) == 2  # asked once and retried once, then gave up
    assert took >= 2 * 0.05

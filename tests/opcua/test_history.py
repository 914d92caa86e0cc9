"""HistoryRead (raw) of any channel: recent frames from the server's ring, older ones from the
live recording, across the boundary without duplicates or gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from _opcua import connect, free_port, users_file
from asyncua import ua

from twin.config import load_satellite
from twin.opcua.server import ServerOptions, TwinServer
from twin.recording import LiveRecorder
from twin.runtime import GOOD, UNCERTAIN_LAST_USABLE, Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

STALE = (600.0, 900.0)  # the bus voltage's board is stale (Uncertain) from 600 s to 900 s


async def test_history_of_a_channel_returns_each_published_step_with_source_times(served):
    twin = served.twin
    t_before = twin.plant.t_s
    for _ in range(5):  # five separate publishes, one step each
        twin.commands.call("Step", {"n": 1})
        twin.tick(0.0)
    served.history.record(twin)
    async with connect(served.url, "vera") as client:
        node = client.get_node("ns=2;s=sim.time_s")
        assert (await node.read_attribute(20)).Value.Value  # Historizing attribute
        values = await node.read_raw_history()  # everything in the ring, oldest first
        times = [dv.Value.Value for dv in values]
        assert times[-5:] == [t_before + k for k in range(1, 6)]
        epoch = twin.config.orbit.epoch
        for dv in values[-5:]:
            assert dv.SourceTimestamp.replace(tzinfo=epoch.tzinfo) == \
                epoch + timedelta(seconds=dv.Value.Value)
            assert dv.StatusCode.is_good()

        soc = client.get_node("ns=2;s=power.battery.1.soc_pct")
        start = epoch + timedelta(seconds=t_before + 2)
        end = epoch + timedelta(seconds=t_before + 4)
        window = await soc.read_raw_history(starttime=start, endtime=end)
        assert [dv.SourceTimestamp.replace(tzinfo=epoch.tzinfo) for dv in window] == [
            epoch + timedelta(seconds=t_before + k) for k in (2, 3, 4)]
        assert all(0 < dv.Value.Value <= 100 for dv in window)
        newest_first = await soc.read_raw_history(starttime=end, endtime=start)
        assert [dv.Value.Value for dv in newest_first] == [dv.Value.Value for dv in window][::-1]
        limited = await soc.read_raw_history(numvalues=2)
        assert len(limited) == 2


# --- beyond the ring: the live recording -----------------------------------------------------
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorded(tmp_path_factory):
    """A recorded twin run for an hour in 10 s frames, its server's ring holding 60 frames
    (10 minutes); the bus voltage's board went stale for a while early on."""
    state = tmp_path_factory.mktemp("history")
    twin = Twin(load_satellite().config, state_dir=state)
    bus = twin.catalogue["power.bus.voltage_v"].index

    def stale_board(tw: Twin) -> None:  # what the board sync does to a stale board's channels
        if STALE[0] <= tw.plant.t_s < STALE[1]:
            tw.mirror.status[bus] = UNCERTAIN_LAST_USABLE

    twin.on_frame(stale_board, first=True)
    recorder = LiveRecorder(twin, state / "run")
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/", state_dir=state,
                         users_file=users_file(state), allow_none=True, history_frames=60)
    try:
        async with TwinServer(twin, opts) as srv:
            for _ in range(360):
                twin.commands.call("Step", {"n": 10})
                twin.tick(0.0)
            assert srv.history.horizon_s == 3000.0  # the ring has let go of all but 3010-3600 s
            yield srv, recorder
    finally:
        recorder.close()


def at(twin: Twin, t_s: float | None) -> datetime | None:
    return None if t_s is None else twin.config.orbit.epoch + timedelta(seconds=t_s)


def sim_s(twin: Twin, dv: ua.DataValue) -> float:
    return (dv.SourceTimestamp.replace(tzinfo=UTC) - twin.config.orbit.epoch).total_seconds()


async def pages(node, start: datetime | None, end: datetime | None, per_page: int,
                most: int = 100) -> list[list[ua.DataValue]]:
    """A raw HistoryRead followed through its continuation points, page by page."""
    details = ua.ReadRawModifiedDetails(
        IsReadModified=False, StartTime=start or ua.get_win_epoch(),
        EndTime=end or ua.get_win_epoch(), NumValuesPerNode=per_page, ReturnBounds=False)
    out, cont = [], None
    while len(out) < most:
        res = await node.history_read(details, cont)
        res.StatusCode.check()
        out.append(res.HistoryData.DataValues)
        cont = res.ContinuationPoint
        if not cont:
            break
    return out


async def test_the_last_hour_of_a_channel_comes_back_whole_though_the_ring_holds_ten_minutes(
        recorded):
    srv, _ = recorded
    twin = srv.twin
    async with connect(srv.url, "vera") as client:
        node = client.get_node("ns=2;s=sim.time_s")
        hour = await node.read_raw_history(at(twin, 0.0), at(twin, 3600.0))
    assert [sim_s(twin, dv) for dv in hour] == [10.0 * k for k in range(361)]
    assert [dv.Value.Value for dv in hour] == [10.0 * k for k in range(361)]
    assert all(dv.StatusCode.is_good() for dv in hour)


async def test_an_early_window_comes_from_the_recording_with_its_times_values_and_quality(
        recorded):
    srv, recorder = recorded
    twin = srv.twin
    path = "power.bus.voltage_v"
    times, volts = recorder.store.read_channel(path, 500.0, 1000.0)
    async with connect(srv.url, "vera") as client:
        window = await client.get_node(f"ns=2;s={path}").read_raw_history(
            at(twin, 500.0), at(twin, 1000.0))
    assert [sim_s(twin, dv) for dv in window] == times.tolist() == [
        500.0 + 10 * k for k in range(51)]
    assert [dv.Value.Value for dv in window] == volts.tolist()
    assert all(dv.ServerTimestamp == dv.SourceTimestamp for dv in window)
    quality = {sim_s(twin, dv): dv.StatusCode.value for dv in window}
    assert {t for t, code in quality.items() if code == UNCERTAIN_LAST_USABLE} == {
        t for t in quality if STALE[0] <= t < STALE[1]}
    assert {code for code in quality.values()} == {GOOD, UNCERTAIN_LAST_USABLE}


@pytest.mark.parametrize("order", ["oldest first", "newest first", "back from EndTime"])
async def test_paging_across_the_ring_and_recording_boundary_has_no_duplicates_or_gaps(
        recorded, order):
    srv, _ = recorded
    twin = srv.twin
    start, end = {"oldest first": (2900.0, 3100.0), "newest first": (3100.0, 2900.0),
                  "back from EndTime": (None, 3100.0)}[order]
    async with connect(srv.url, "vera") as client:
        node = client.get_node("ns=2;s=thermal.loop.1.flow_kg_s")
        got = await pages(node, at(twin, start), at(twin, end), per_page=7, most=3)
    assert all(len(p) == 7 for p in got)  # 3 full pages, each ending in a continuation point
    seen = [sim_s(twin, dv) for p in got for dv in p]
    expected = [2900.0 + 10 * k for k in range(21)]
    assert seen == (expected if order == "oldest first" else expected[::-1])

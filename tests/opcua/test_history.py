"""HistoryRead (raw) of any channel from the server's ring of published frames."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _opcua import connect

pytestmark = pytest.mark.asyncio(loop_scope="module")


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

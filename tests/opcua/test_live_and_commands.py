"""Live values through subscriptions, and commands as methods through the one command path."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from _opcua import connect
from asyncua import ua

from twin.opcua.server import TwinServer
from twin.runtime import BAD_NO_COMMUNICATION

pytestmark = pytest.mark.asyncio(loop_scope="module")
WAIT_S = 15.0


class Changes:
    """Subscription handler: every data change into a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, ua.DataValue]] = asyncio.Queue()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.queue.put_nowait((node.nodeid.Identifier, data.monitored_item.Value))

    async def next_for(self, path: str, accept: Any = lambda dv: True) -> ua.DataValue:
        async def wait() -> ua.DataValue:
            while True:
                got, dv = await self.queue.get()
                if got == path and accept(dv):
                    return dv
        return await asyncio.wait_for(wait(), WAIT_S)


async def test_a_step_is_published_with_simulated_source_time(served: TwinServer):
    twin = served.twin
    epoch = twin.config.orbit.epoch
    async with connect(served.url, "otto") as c:
        changes = Changes()
        sub = await c.create_subscription(50, changes)
        await sub.subscribe_data_change([c.get_node("ns=2;s=sim.time_s")])
        first = await changes.next_for("sim.time_s")
        sim = c.get_node("ns=2;s=sim")
        await sim.call_method("2:Step", 3)
        dv = await changes.next_for("sim.time_s", lambda d: d.Value.Value > first.Value.Value)
        await sub.delete()
    assert dv.StatusCode.is_good()
    assert dv.SourceTimestamp == epoch + timedelta(seconds=dv.Value.Value)
    assert dv.Value.Value == pytest.approx(first.Value.Value + 3 * twin.clock.step_s)


async def test_mirror_quality_reaches_clients_as_the_status_code(served: TwinServer):
    twin = served.twin
    path = "power.battery.2.temp_c"
    i = twin.catalogue[path].index
    async with connect(served.url, "vera") as c:
        changes = Changes()
        sub = await c.create_subscription(50, changes)
        await sub.subscribe_data_change([c.get_node(f"ns=2;s={path}")])
        await changes.next_for(path)
        status = twin.mirror.status.copy()
        status[i] = BAD_NO_COMMUNICATION
        twin.mirror.status = status
        twin.mirror.version += 1
        served.publisher.frame_ready()
        dv = await changes.next_for(path, lambda d: not d.StatusCode.is_good())
        await sub.delete()
    twin.refresh()
    assert dv.StatusCode.value == BAD_NO_COMMUNICATION
    assert dv.StatusCode.name == "BadNoCommunication"


async def test_operator_commands_and_refusals_carry_the_command_paths_status(served: TwinServer):
    async with connect(served.url, "otto") as c:
        sim = c.get_node("ns=2;s=sim")
        sat = c.get_node("ns=2;s=satellite")
        assert await sim.call_method("2:SetSpeed", 4.0) == "SetSpeed done"
        with pytest.raises(ua.UaStatusCodeError) as out_of_range:
            await sim.call_method("2:SetSpeed", 5000.0)
        with pytest.raises(ua.UaStatusCodeError) as denied:
            await sat.call_method("2:InjectFault", "pump_failure", "thermal.pump.1", "",
                                  float("nan"), float("nan"))
    assert served.twin.clock.speed == 4.0
    assert out_of_range.value.code == ua.StatusCodes.BadOutOfRange
    assert denied.value.code == ua.StatusCodes.BadUserAccessDenied
    rec = served.twin.commands.log[-1]
    assert (rec.user, rec.role, rec.command, rec.status) == ("otto", "operator", "InjectFault",
                                                             "BadUserAccessDenied")


async def test_engineer_injects_lists_and_clears_a_fault(served: TwinServer):
    async with connect(served.url, "erin") as c:
        sat = c.get_node("ns=2;s=satellite")
        msg, fid = await sat.call_method("2:InjectFault", "pump_failure", "thermal.pump.1", "",
                                         float("nan"), float("nan"))
        _, faults = await sat.call_method("2:ListFaults")
        await sat.call_method("2:ClearFault", fid)
    assert fid >= 1 and "done" in msg
    assert any(f.get("id", f.get("fault_id")) == fid for f in json.loads(faults))


async def test_viewer_can_read_but_not_command_or_write(served: TwinServer):
    async with connect(served.url, "vera") as c:
        sim = c.get_node("ns=2;s=sim")
        assert isinstance(await c.get_node("ns=2;s=sim.time_s").read_value(), float)
        with pytest.raises(ua.UaStatusCodeError) as called:
            await sim.call_method("2:Pause")
        with pytest.raises(ua.UaStatusCodeError) as wrote:
            await c.get_node("ns=2;s=sim.time_s").write_value(
                ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)))
    assert called.value.code == ua.StatusCodes.BadUserAccessDenied
    assert wrote.value.code == ua.StatusCodes.BadUserAccessDenied


async def test_methods_describe_their_arguments(served: TwinServer):
    async with connect(served.url, "vera") as c:
        method = c.get_node("ns=2;s=satellite.SetPumpSpeed")
        args = await (await method.get_child("0:InputArguments")).read_value()
    assert [a.Name for a in args] == ["pump", "speed_pct"]
    assert args[1].DataType == ua.NodeId(ua.ObjectIds.Double)
    assert "[%]" in args[1].Description.Text and "0 to 100" in args[1].Description.Text


@pytest.mark.parametrize(("user", "password"), [("otto", "wrong"), ("nobody", "x"),
                                                (None, None)])
async def test_wrong_password_unknown_user_and_anonymous_are_refused(served: TwinServer, user,
                                                                     password):
    with pytest.raises(ua.UaStatusCodeError):
        async with connect(served.url, user, password):
            pass


async def test_engineer_runs_a_scenario_over_opcua_and_operator_may_not(served: TwinServer):
    async with connect(served.url, "otto") as c:
        sim = c.get_node("ns=2;s=sim")
        with pytest.raises(ua.UaStatusCodeError) as denied:
            await sim.call_method("2:LoadScenario", "pump-failure-shed")
        _, listed = await sim.call_method("2:ListScenarios")
    async with connect(served.url, "erin") as c:
        sim = c.get_node("ns=2;s=sim")
        loaded = await sim.call_method("2:LoadScenario", "pump-failure-shed")
        started = await sim.call_method("2:StartScenario")
        state = await c.get_node("ns=2;s=sim.scenario.state").read_value()
        _, status = await sim.call_method("2:ScenarioStatus")
        stopped = await sim.call_method("2:StopScenario")
    assert denied.value.code == ua.StatusCodes.BadUserAccessDenied
    assert "pump-failure-shed" in {s["name"] for s in json.loads(listed)}
    assert loaded.startswith("LoadScenario: loaded pump-failure-shed")
    assert started.startswith("StartScenario: started pump-failure-shed")
    assert state == 2  # running (sim.scenario.state's EnumStrings)
    assert json.loads(status)["timeline_next"] == ["action[1]"]
    assert "stopped" in stopped and served.twin.scenarios.state == "stopped"

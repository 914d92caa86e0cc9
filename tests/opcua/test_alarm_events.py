"""Alarms as OPC UA conditions: limit crossings become condition events a standard client can
acknowledge with the Acknowledge method, through the twin's command path and roles."""

from __future__ import annotations

import asyncio

import pytest
from _opcua import connect
from asyncua import ua

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOT = "compute.hottest_gpu_temp_c"
PUMP = "thermal.pump.1.running"
ACK = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)


class Events:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.backlog: list = []  # received, not yet asked for

    def event_notification(self, event) -> None:
        self.queue.put_nowait(event)

    async def next_for(self, path: str, **fields):
        """The first event not yet taken of ``path``'s condition (with ``fields`` equal)."""
        def match(ev) -> bool:
            return getattr(ev, "ConditionName", None) == path and all(
                getattr(ev, k.replace("__", "/")) == v for k, v in fields.items())

        for i, ev in enumerate(self.backlog):
            if match(ev):
                return self.backlog.pop(i)
        while True:
            ev = await asyncio.wait_for(self.queue.get(), timeout=20)
            if match(ev):
                return ev
            self.backlog.append(ev)


async def subscribe(client):
    handler = Events()
    sub = await client.create_subscription(50, handler)
    await sub.subscribe_events(client.get_node("ns=2;s=satellite"),
                               [ua.ObjectIds.ExclusiveLimitAlarmType,
                                ua.ObjectIds.OffNormalAlarmType])
    return sub, handler


async def acknowledge(client, condition: ua.NodeId, event_id: bytes, comment: str
                      ) -> ua.StatusCode:
    """The standard Acknowledge method, called on the ConditionId (Part 9, 5.7.3)."""
    req = ua.CallMethodRequest(ObjectId=condition, MethodId=ACK, InputArguments=[
        ua.Variant(event_id, ua.VariantType.ByteString),
        ua.Variant(ua.LocalizedText(comment), ua.VariantType.LocalizedText)])
    (res,) = await client.uaclient.call([req])
    return res.StatusCode


def heat_up(twin, path: str, states: tuple[str, ...] = ("yellow-high", "red-high")):
    """Step the (paused) twin until ``path``'s alarm is in one of ``states``."""
    for _ in range(60):
        a = twin.alarms.alarms.get(path)
        if a is not None and a.state in states:
            return a
        twin.commands.call("Step", {"n": 10})
        twin.tick(0.0)
    raise AssertionError(f"{path} never reached {states}")


@pytest.fixture(scope="module")
def pumps_failed(served):
    twin = served.twin
    ids = [twin.commands.call("InjectFault", {"kind": "pump_failure",
                                               "target": f"thermal.pump.{p}"}).data
           for p in (1, 2)]
    yield twin
    for fault_id in ids:
        twin.commands.call("ClearFault", {"fault_id": fault_id})


async def test_a_limit_crossing_is_a_limit_alarm_condition_with_its_limits(served,
                                                                          pumps_failed):
    twin = served.twin
    async with connect(served.url, "erin") as client:
        sub, handler = await subscribe(client)
        heat_up(twin, HOT, ("yellow-high",))
        ev = await handler.next_for(HOT, ActiveState__Id=True)
        assert ev.EventType == ua.NodeId(ua.ObjectIds.ExclusiveLimitAlarmType)
        assert ev.NodeId == ua.NodeId(f"{HOT}.Alarm", 2)  # the ConditionId
        assert ev.SourceNode == ua.NodeId(HOT, 2)
        assert ev.Severity == 500 and ev.Retain is True
        assert getattr(ev, "AckedState/Id") is False
        assert getattr(ev, "LimitState/CurrentState").Text == "High"
        assert ev.HighLimit == 82.0 and ev.HighHighLimit == 87.0
        assert "above the yellow limit 82 °C" in ev.Message.Text
        assert ev.EventId.hex() == twin.alarms.alarms[HOT].event_id
        assert await client.get_node(f"ns=2;s={HOT}.LimitState").read_value() == "yellow-high"
        refs = await client.get_node(ua.NodeId(HOT, 2)).get_referenced_nodes(
            ua.ObjectIds.HasCondition)
        assert [r.nodeid for r in refs] == [ev.NodeId]

        pump = await handler.next_for(PUMP)  # a boolean: off-normal, worded as such
        assert pump.EventType == ua.NodeId(ua.ObjectIds.OffNormalAlarmType)
        assert pump.Message.Text == f"{PUMP} is false: red alarm (was ok)"
        assert pump.Severity == 800
        await sub.delete()


async def test_a_client_acknowledges_an_alarm_event_through_the_command_path(served,
                                                                            pumps_failed):
    twin = served.twin
    alarm = heat_up(twin, HOT)
    assert alarm.active and not alarm.acked
    async with connect(served.url, "otto") as otto, connect(served.url, "vera") as vera:
        sub, handler = await subscribe(otto)
        cond = ua.NodeId(f"{HOT}.Alarm", 2)
        event_id = bytes.fromhex(alarm.event_id)

        denied = await acknowledge(vera, cond, event_id, "viewer tries")
        assert denied.value == ua.StatusCodes.BadUserAccessDenied
        unknown = await acknowledge(otto, cond, b"\x00" * 16, "stale id")
        assert unknown.value == ua.StatusCodes.BadEventIdUnknown
        assert not twin.alarms.alarms[HOT].acked

        ok = await acknowledge(otto, cond, event_id, "pumps out, on it")
        assert ok.is_good()
        alarm = twin.alarms.alarms[HOT]
        assert alarm.acked and alarm.acked_by == "otto" and alarm.comment == "pumps out, on it"
        ev = await handler.next_for(HOT, AckedState__Id=True)
        assert getattr(ev, "ActiveState/Id") is True and ev.Retain is True
        assert ev.NodeId == cond and ev.Comment.Text == "pumps out, on it"
        assert ev.ClientUserId == "otto"
        assert await otto.get_node(f"ns=2;s={HOT}.Alarm.AckedState.Id").read_value() is True

        again = await acknowledge(otto, cond, event_id, "twice")
        assert again.value == ua.StatusCodes.BadConditionBranchAlreadyAcked
        log = [(r.user, r.role, r.command, r.status) for r in twin.commands.log[-4:]]
        assert log == [("vera", "viewer", "AcknowledgeEvent", "BadUserAccessDenied"),
                       ("otto", "operator", "AcknowledgeEvent", "BadEventIdUnknown"),
                       ("otto", "operator", "AcknowledgeEvent", "Good"),
                       ("otto", "operator", "AcknowledgeEvent",
                        "BadConditionBranchAlreadyAcked")]
        wrong = await acknowledge(otto, ua.NodeId("satellite", 2), event_id, "not a condition")
        assert wrong.value == ua.StatusCodes.BadNodeIdInvalid
        await sub.delete()


async def test_condition_refresh_resends_every_retained_alarm_as_it_stands(served,
                                                                          pumps_failed):
    twin = served.twin
    if not heat_up(twin, HOT).acked:
        assert twin.commands.call("AcknowledgeAlarm", {"path": HOT}, "otto", "operator").ok
    retained = {a.path: a for a in twin.alarms.active()}
    assert HOT in retained and retained[HOT].acked  # acknowledged, still active
    async with connect(served.url, "vera") as client:  # viewers may refresh
        sub, handler = await subscribe(client)
        await client.get_node(ua.ObjectIds.ConditionType).call_method(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            ua.Variant(sub.subscription_id, ua.VariantType.UInt32))
        seen = {}
        while len(seen) < len(retained):
            ev = await asyncio.wait_for(handler.queue.get(), timeout=20)
            seen[ev.ConditionName] = ev
        assert set(seen) == set(retained)
        assert all(ev.Retain for ev in seen.values())
        hot = seen[HOT]
        assert getattr(hot, "AckedState/Id") is True and getattr(hot, "ActiveState/Id") is True
        assert hot.EventId.hex() == twin.alarms.alarms[HOT].event_id
        await sub.delete()

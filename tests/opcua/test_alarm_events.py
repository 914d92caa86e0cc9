"""Alarm transitions reach OPC UA clients as AlarmConditionType events and LimitState values."""

from __future__ import annotations

import asyncio

import pytest
from _opcua import connect
from asyncua import ua

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Events:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def event_notification(self, event) -> None:
        self.queue.put_nowait(event)


async def test_a_limit_crossing_is_an_alarm_condition_event_and_a_limit_state(served):
    twin = served.twin
    path = "compute.hottest_gpu_temp_c"
    async with connect(served.url, "erin") as client:
        handler = Events()
        sub = await client.create_subscription(50, handler)
        await sub.subscribe_events(client.get_node("ns=2;s=satellite"),
                                   ua.ObjectIds.AlarmConditionType)
        for pump in (1, 2):
            assert twin.commands.call("InjectFault", {"kind": "pump_failure",
                                                      "target": f"thermal.pump.{pump}"}).ok
        for _ in range(60):
            twin.commands.call("Step", {"n": 10})
            twin.tick(0.0)
            a = twin.alarms.alarms.get(path)
            if a is not None and a.state == "yellow-high":
                break
        assert twin.alarms.alarms[path].state == "yellow-high"

        async def next_alarm_for(p: str):
            while True:
                ev = await asyncio.wait_for(handler.queue.get(), timeout=20)
                if getattr(ev, "ConditionName", None) == p:
                    return ev

        ev = await next_alarm_for(path)
        assert ev.Severity == 500
        assert getattr(ev, "ActiveState/Id") is True
        assert getattr(ev, "AckedState/Id") is False
        assert ev.Retain is True
        state = client.get_node(f"ns=2;s={path}.LimitState")
        assert await state.read_value() == "yellow-high"
        await sub.delete()
    for pump_fault in (1, 2):
        twin.commands.call("ClearFault", {"fault_id": pump_fault})

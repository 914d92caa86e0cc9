"""Limit alarms decided in the core: transitions, events, acknowledge, shelve."""

from __future__ import annotations

import json

import pytest

from twin.config import load_satellite
from twin.runtime import Twin


@pytest.fixture
def hot_twin():
    """Both pumps failed: the GPUs heat at ~0.4 K/s through yellow (82 °C) and red (87 °C)."""
    twin = Twin(load_satellite().config)
    for pump in (1, 2):
        assert twin.commands.call("InjectFault", {"kind": "pump_failure",
                                                  "target": f"thermal.pump.{pump}"}).ok
    return twin


def run(twin: Twin, steps: int) -> None:
    twin.commands.call("Step", {"n": steps}, user="test", role="operator")
    twin.tick(0.0)


def alarm_events(twin: Twin, path: str) -> list:
    return [e for e in twin.events if e.kind == "alarm" and e.data.get("path") == path]


def test_a_rising_temperature_goes_yellow_then_red_and_needs_acknowledging(hot_twin):
    path = "compute.hottest_gpu_temp_c"
    for _ in range(40):
        run(hot_twin, 10)
        if hot_twin.alarms.alarms.get(path) and hot_twin.alarms.alarms[path].state == "red-high":
            break
    events = alarm_events(hot_twin, path)
    states = [e.data["state"] for e in events]
    assert states[:2] == ["yellow-high", "red-high"]
    assert [e.severity for e in events[:2]] == [500, 800]
    alarm = hot_twin.alarms.alarms[path]
    assert alarm.active and not alarm.acked and alarm.value > 87.0
    assert hot_twin.alarms.counts()["red"] >= 1
    listed = json.loads(hot_twin.commands.call("ListAlarms", role="viewer").data)
    assert listed[0]["severity"] == 800  # worst first

    res = hot_twin.commands.call("AcknowledgeAlarm", {"path": path, "comment": "pumps out"},
                                 user="ana", role="operator")
    assert res.ok
    assert alarm.acked and alarm.acked_by == "ana"
    again = hot_twin.commands.call("AcknowledgeAlarm", {"path": path}, user="ana",
                                   role="operator")
    assert again.status == "BadInvalidState"
    denied = hot_twin.commands.call("AcknowledgeAlarm", {"path": path}, role="viewer")
    assert denied.status == "BadUserAccessDenied"


def test_shelved_alarms_raise_no_events_until_the_shelf_time_runs_out(hot_twin):
    path = "compute.hottest_gpu_temp_c"
    assert hot_twin.commands.call("ShelveAlarm", {"path": path, "duration_s": 100000.0}).ok
    run(hot_twin, 400)
    assert hot_twin.alarms.alarms[path].state in ("red-high", "yellow-high")
    assert [e.data["state"] for e in alarm_events(hot_twin, path)] == ["ok"]  # the shelving
    assert hot_twin.commands.call("ShelveAlarm", {"path": path, "duration_s": 0.0}).ok


def test_alarm_commands_name_unknown_or_unlimited_channels():
    twin = Twin(load_satellite().config)
    res = twin.commands.call("AcknowledgeAlarm", {"path": "sim.time_s"})
    assert res.status == "BadInvalidArgument" and "no limits" in res.message
    res = twin.commands.call("AcknowledgeAlarm", {"path": "compute.hottest_gpu_temp_c"})
    assert res.status == "BadInvalidState" and "never been raised" in res.message
    res = twin.commands.call("ShelveAlarm", {"path": "compute.hottest_gpu_temp_c",
                                             "duration_s": -5.0})
    assert res.status == "BadOutOfRange"


def test_bad_quality_values_are_not_judged():
    from twin.runtime import BAD_NO_COMMUNICATION

    twin = Twin(load_satellite().config)
    i = twin.catalogue["power.bus.voltage_v"].index
    twin.mirror.values[i] = 0.0  # far below red, but from an offline board
    twin.mirror.status[i] = BAD_NO_COMMUNICATION
    assert "power.bus.voltage_v" not in [a.path for a in twin.alarms.evaluate()]

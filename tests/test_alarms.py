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


def test_link_and_residual_channels_of_a_twin_built_with_boards_raise_limit_alarms():
    from twin.catalogue import BoardChannels
    from twin.runtime import BAD_NO_COMMUNICATION, GOOD

    lab = BoardChannels("lab", "", 0.2, (("thermal.radiator.1.temp_c", 0.3, 0.6),))
    twin = Twin(load_satellite().config, boards=[lab])
    m, cat = twin.mirror, twin.catalogue

    def show(path: str, value: float, status: int = GOOD) -> str:
        m.values[cat[path].index], m.status[cat[path].index] = value, status
        twin.alarms.evaluate()
        return twin.alarms.alarms[path].state if path in twin.alarms.alarms else "ok"

    assert show("hil.lab.online", 1.0) == "ok"
    assert show("hil.lab.online", 0.0) == "red-low"  # the board is offline
    assert alarm_events(twin, "hil.lab.online")[-1].severity == 800
    assert show("hil.lab.online", 1.0) == "ok"  # and back
    assert show("hil.lab.latency_ms", 150.0) == "yellow-high"  # above half the timeout
    res = "hil.residual.thermal.radiator.1.temp_c"
    assert show(res, 0.2) == "ok"
    assert show(res, 0.4) == "yellow-high"
    assert show(res, -0.7) == "red-low"
    assert show(res, float("nan"), BAD_NO_COMMUNICATION) == "red-low"  # not judged: holds
    assert show(res, 0.0) == "ok"


def test_messages_name_the_value_and_the_limit_and_booleans_read_as_true_or_false(hot_twin):
    path = "compute.hottest_gpu_temp_c"
    for _ in range(40):
        run(hot_twin, 10)
        if hot_twin.alarms.alarms.get(path) and hot_twin.alarms.alarms[path].state == "red-high":
            break
    red = alarm_events(hot_twin, path)[1]
    assert red.message.startswith(f"{path} = {red.data['value']:g} °C: red-high, above the "
                                  "red limit 87 °C (was yellow-high)")
    pump = alarm_events(hot_twin, "thermal.pump.1.running")  # a boolean channel
    assert [e.message for e in pump] == ["thermal.pump.1.running is false: red alarm (was ok)"]
    assert pump[0].data["state"] == "red-low" and pump[0].severity == 800


def test_a_notification_is_acknowledged_by_its_event_id_only_while_it_stands(hot_twin):
    path = "compute.hottest_gpu_temp_c"

    def ack(event_id: str, for_path: str = path):
        return hot_twin.commands.call("AcknowledgeEvent", {"path": for_path,
                                                           "event_id": event_id},
                                      user="ana", role="operator")

    while hot_twin.alarms.alarms.get(path) is None:
        run(hot_twin, 10)
    yellow = hot_twin.alarms.alarms[path].event_id
    while hot_twin.alarms.alarms[path].state != "red-high":
        run(hot_twin, 10)
    red = hot_twin.alarms.alarms[path].event_id
    assert yellow != red
    assert ack(yellow).status == "BadEventIdUnknown"  # superseded by a worse state
    assert "acknowledge its latest one" in ack(yellow).message
    assert ack(red, "thermal.pump.1.running").status == "BadEventIdUnknown"  # not its alarm
    assert not hot_twin.alarms.alarms[path].acked
    assert ack(red).ok
    assert hot_twin.alarms.alarms[path].acked_by == "ana"
    assert ack(red).status == "BadConditionBranchAlreadyAcked"
    assert ack(yellow).status == "BadConditionBranchAlreadyAcked"
    acked_note = alarm_events(hot_twin, path)[-1]
    assert acked_note.data["acked"] and acked_note.data["event_id"] not in (yellow, red)


def test_a_lost_board_reads_as_online_false_not_as_a_number():
    from twin.catalogue import BoardChannels
    from twin.runtime import GOOD

    twin = Twin(load_satellite().config, boards=[BoardChannels("io1", "", 0.2)])
    i = twin.catalogue["hil.io1.online"].index
    for value in (0.0, 1.0):  # what the board sync shows: offline, then back
        twin.mirror.values[i], twin.mirror.status[i] = value, GOOD
        twin.alarms.evaluate()
    assert [e.message for e in alarm_events(twin, "hil.io1.online")] == [
        "hil.io1.online is false: red alarm (was ok)", "hil.io1.online is true: ok (was red)"]


def test_a_noisy_value_on_a_limit_does_not_flap_the_alarm():
    """Sensor noise around the red low limit of the loop flow (0.75 kg/s; span 5 kg/s, so the
    deadband is 0.05 kg/s): one transition to red, none back until the flow is clearly above."""
    twin = Twin(load_satellite().config)
    path = "thermal.loop.1.flow_kg_s"
    i = twin.catalogue[path].index
    book = twin.alarms

    def show(value: float) -> None:
        twin.mirror.values[i] = value
        book.evaluate()

    show(1.0)  # below yellow 1.75: yellow-low
    for k in range(50):  # ±0.02 kg/s of noise across the red limit
        show(0.75 + (0.02 if k % 2 else -0.02))
    states = [e.data["state"] for e in alarm_events(twin, path)]
    assert states == ["yellow-low", "red-low"]
    show(0.79)  # inside the deadband: still red
    assert book.alarms[path].state == "red-low"
    show(0.81)  # clearly above the red limit: back to yellow
    assert book.alarms[path].state == "yellow-low"
    show(1.76)  # just above the yellow limit, inside the deadband: stays yellow
    assert book.alarms[path].state == "yellow-low"
    show(2.0)
    assert book.alarms[path].state == "ok"


def test_twin_simulate_judges_the_alarms_on_every_recorded_frame_and_records_them(tmp_path):
    """A satellite that sheds below 80 % SOC: its SOC limits are yellow 90 %, red 80 %
    (twin.catalogue: shed + 10, shed), which the first eclipse crosses."""
    from pathlib import Path

    from twin.cli import main
    from twin.store import RunStore

    text = (Path(__file__).parents[1] / "configs" / "satellite.toml").read_text()
    sat = tmp_path / "sat.toml"
    sat.write_text(text.replace("shed_soc_pct = 30.0", "shed_soc_pct = 80.0")
                   .replace("recover_soc_pct = 45.0", "recover_soc_pct = 90.0"))
    assert main(["simulate", "--config", str(sat), "--duration", "2h", "--out",
                 str(tmp_path / "run"), "--quiet"]) == 0
    with RunStore.open(tmp_path / "run") as run:
        t, soc = run.read_channel("power.battery.soc_pct")
        alarms = [a for a in run.alarms() if a.source == "power.battery.soc_pct"]
        events = run.events(kind="alarm")
        all_alarms = run.alarms()
    assert [(a.previous, a.state) for a in alarms[:2]] == [("ok", "yellow-low"),
                                                           ("yellow-low", "red-low")]
    assert alarms[0].t_s == t[soc < 90.0][0] and alarms[1].t_s == t[soc < 80.0][0]
    assert alarms[0].value == soc[soc < 90.0][0]
    assert set(a.t_s for a in all_alarms) <= set(t.tolist())  # judged on recorded frames
    assert len(events) == len(all_alarms)

"""A live twin records what it shows, every command, event and alarm transition, by default."""

from __future__ import annotations

import argparse

from twin.config import load_satellite
from twin.recording import LiveRecorder, start_recording
from twin.runtime import Twin
from twin.store import RunStore


def test_a_live_twin_records_frames_commands_events_and_alarm_transitions(tmp_path):
    twin = Twin(load_satellite().config)
    rec = LiveRecorder(twin, tmp_path / "live")
    for pump in (1, 2):
        twin.commands.call("InjectFault", {"kind": "pump_failure",
                                           "target": f"thermal.pump.{pump}"}, user="erin")
    for _ in range(40):
        twin.commands.call("Step", {"n": 10}, user="otto", role="operator")
        twin.tick(0.0)
    twin.commands.call("SetSpeed", {"speed": 5000.0}, user="otto", role="operator")  # refused
    twin.tick(0.0)  # paused, no new simulated time: no second frame at 400 s
    rec.close()
    with RunStore.open(tmp_path / "live") as store:
        times, frames = store.read_frames()
        assert times.tolist() == [10.0 * k for k in range(41)]  # the start frame and every step
        assert frames[-1][twin.catalogue["sim.time_s"].index] == 400.0
        assert store.meta.origin == "live"
        cmds = store.commands()
        names = [(c.user, c.name, c.status) for c in cmds]
        assert ("erin", "InjectFault", "Good") in names
        assert ("otto", "SetSpeed", "BadOutOfRange") in names
        kinds = {e.kind for e in store.events()}
        assert {"command", "fault", "alarm"} <= kinds
        alarms = store.alarms()
        hot = [a for a in alarms if a.source == "compute.hottest_gpu_temp_c"]
        assert [(a.previous, a.state) for a in hot][:2] == [("ok", "yellow-high"),
                                                            ("yellow-high", "red-high")]


def test_recording_is_on_by_default_and_off_on_request(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    twin = Twin(load_satellite().config)
    assert start_recording(twin, argparse.Namespace(no_record=True, record=None)) is None
    rec = start_recording(twin, argparse.Namespace(no_record=False, record=None))
    assert rec is not None and rec.directory.parent.name == "runs"
    assert rec.directory.name.endswith("-OTS-1-live")
    rec.close()

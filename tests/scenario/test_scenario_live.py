"""Scenarios on a live twin (LoadScenario, StartScenario, StopScenario): the same timeline,
triggers and verdict as a batch run, actions on their step at any speed, clear refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from twin.catalogue import SCENARIO_STATES
from twin.config import CONFIG_DIR, load_satellite
from twin.runtime import Twin
from twin.scenario import load_scenario, run_scenario

SHED = CONFIG_DIR / "scenarios" / "pump-failure-shed.toml"


def live_twin(state_dir: Path | None = None) -> Twin:
    return Twin(load_satellite().config, seed=1, state_dir=state_dir)


def run_to_end(twin: Twin, max_ticks: int = 10_000) -> None:
    twin.clock.fast()
    for _ in range(max_ticks):
        if not twin.scenarios.running:
            return
        twin.tick(time.monotonic())
    raise AssertionError("the live scenario did not end")


def status(twin: Twin) -> dict:
    return json.loads(twin.commands.call("ScenarioStatus", role="viewer").data)


def shown_state(twin: Twin) -> str:
    return SCENARIO_STATES[int(twin.mirror.value("sim.scenario.state"))]


def test_a_live_run_fires_its_trigger_and_passes_as_the_batch_run_does(tmp_path: Path):
    batch = run_scenario(load_scenario(SHED), tmp_path / "batch")
    twin = live_twin()
    assert twin.commands.call("LoadScenario", {"name": "pump-failure-shed"}).ok
    assert shown_state(twin) == "loaded"
    assert twin.commands.call("StartScenario").ok
    assert shown_state(twin) == "running"
    run_to_end(twin)
    st = status(twin)
    assert st["state"] == "passed" and shown_state(twin) == "passed"
    assert st["result"]["fired"] == batch.fired == {"shed loop 2 racks": [395.0]}
    assert [e["measured"] for e in st["result"]["expectations"]] == \
        [e.measured for e in batch.expectations]
    verdicts = [e for e in twin.events if e.kind == "scenario"]
    assert "passed" in verdicts[-1].message
    assert any("trigger 'shed loop 2 racks'" in e.message for e in verdicts)
    scenario_calls = [r for r in twin.commands.log if r.user == "scenario"]
    assert [r.command for r in scenario_calls] == ["InjectFault", "SetLoadShedLevel"]


def test_a_timeline_action_runs_on_its_step_even_when_a_tick_spans_many(tmp_path: Path):
    twin = live_twin()
    twin.commands.call("LoadScenario", {"name": "pump-failure-shed"})
    t0 = twin.plant.t_s
    twin.commands.call("StartScenario")
    twin.clock.fast()
    twin.clock.max_batch = 1000  # one tick: 1000 s of simulated time at the default 1 s step
    twin.tick(time.monotonic())
    fault = twin.plant.faults[0]
    assert fault.kind == "pump_failure"
    assert fault.start_us == round((t0 + 300.0) * 1e6)


def test_a_scenario_that_pauses_the_clock_stops_the_tick_there(tmp_path: Path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "hold.toml").write_text(
        '[scenario]\nname = "hold"\nduration_s = 600\n'
        '[[action]]\nat_s = 120\ncommand = "Pause"\n'
        '[[expect]]\nname = "bus regulated"\nchannel = "power.bus.voltage_v"\n'
        'stat = "min"\nop = ">"\nvalue = 100\n', encoding="utf-8")
    twin = live_twin(tmp_path)
    assert twin.commands.call("LoadScenario", {"name": "hold"}).ok
    t0 = twin.plant.t_s
    twin.commands.call("StartScenario")
    twin.clock.fast()
    twin.tick(time.monotonic())
    assert twin.clock.mode == "paused"
    assert twin.plant.t_s == pytest.approx(t0 + 120.0)
    assert twin.scenarios.running


def test_stop_judges_what_was_seen_and_says_so(tmp_path: Path):
    twin = live_twin()
    twin.commands.call("LoadScenario", {"name": "pump-failure-shed"})
    twin.commands.call("StartScenario")
    twin.commands.call("Step", {"n": 60}, role="operator")
    twin.tick(time.monotonic())
    res = twin.commands.call("StopScenario")
    assert res.ok and "stopped at 60 s" in res.message
    st = status(twin)
    assert st["state"] == "stopped" and shown_state(twin) == "stopped"
    assert {e["name"]: e["passed"] for e in st["result"]["expectations"]}[
        "load shedding commanded"] is False  # its window (300-600 s) was never reached
    again = twin.commands.call("StopScenario")
    assert (again.ok, again.status) == (False, "BadInvalidState")


def test_moving_time_back_stops_the_run(tmp_path: Path):
    twin = live_twin(tmp_path)
    twin.commands.call("SaveCheckpoint", {"name": "before"})
    twin.commands.call("LoadScenario", {"name": "pump-failure-shed"})
    twin.commands.call("StartScenario")
    twin.commands.call("Step", {"n": 30}, role="operator")
    twin.tick(time.monotonic())
    twin.commands.call("RestoreCheckpoint", {"name": "before"})
    twin.commands.call("Step", {"n": 1}, role="operator")
    twin.tick(time.monotonic())
    st = status(twin)
    assert st["state"] == "stopped" and "moved back" in st["reason"]


def test_bad_names_files_and_states_are_refused_with_a_reason(tmp_path: Path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "broken.toml").write_text(
        '[scenario]\nname = "broken"\nduration_s = 600\n\n[[action]]\nat_s = 10\n'
        'command = "SetPumpSpeed"\nargs = { pump = 9, speed_pct = 50 }\n', encoding="utf-8")
    twin = live_twin(tmp_path)
    call = twin.commands.call
    unknown = call("LoadScenario", {"name": "no-such-scenario"})
    assert unknown.status == "BadInvalidArgument" and "pump-failure-shed" in unknown.message
    escape = call("LoadScenario", {"name": "../satellite"})
    assert escape.status == "BadInvalidArgument" and "no folders" in escape.message
    broken = call("LoadScenario", {"name": "broken"})
    assert broken.status == "BadInvalidArgument"
    assert "broken.toml:8" in broken.message and "action[1].args.pump" in broken.message
    other_sat = call("LoadScenario", {"name": "array-drive-stuck"})
    assert other_sat.status == "BadInvalidArgument" and "satellite-leo53" in other_sat.message
    assert call("StartScenario").status == "BadInvalidState"  # nothing loaded
    assert call("LoadScenario", {"name": "radiator-damage"}, role="operator").status == \
        "BadUserAccessDenied"
    listed = json.loads(call("ListScenarios", role="viewer").data)
    assert {"pump-failure-shed", "broken"} <= {s["name"] for s in listed}
    assert call("LoadScenario", {"name": "radiator-damage"}).ok
    assert call("StartScenario").ok
    busy = call("LoadScenario", {"name": "pump-failure-shed"})
    assert busy.status == "BadInvalidState" and "StopScenario first" in busy.message

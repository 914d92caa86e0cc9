"""Triggers fire when and only when their condition holds for the duration; expectations report
what they measured; JUnit XML is well-formed; commands are logged with user "scenario"."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from twin.scenario import ScenarioRunner, junit_tree, parse_scenario, run_scenario, write_junit
from twin.store import RunStore

# sim.time_s is the simulated time itself: a condition on it holds from a known instant.
HEAD = """
[scenario]
name = "unit"
duration_s = 600
record_every_s = 10
seed = 3
"""
HARMLESS = '[{ command = "SetHeaterMode", args = { string = 1, mode = "auto" } }]'
ALWAYS = """
[[expect]]
name = "time runs"
channel = "sim.time_s"
stat = "final"
op = ">="
value = 0
"""


def run(text: str, tmp_path: Path | None = None):  # type: ignore[no-untyped-def]
    sc = parse_scenario(HEAD + text + ALWAYS, "unit.toml")
    if tmp_path is not None:
        return run_scenario(sc, tmp_path / "run")
    return ScenarioRunner(sc).run()


def test_trigger_fires_after_the_condition_held_for_its_duration() -> None:
    r = run(f"""
[[trigger]]
name = "late"
channel = "sim.time_s"
op = ">"
value = 100
for_s = 30
actions = {HARMLESS}
""")
    # Checked every 10 s: first true at 110 s, held for 30 s at 140 s.
    assert r.fired == {"late": [140.0]}
    assert [a.t_s for a in r.actions] == [140.0]


def test_trigger_does_not_fire_when_the_condition_never_lasts_long_enough() -> None:
    # The eclipse lasts ~20 min; asking for 30 min of shadow never fires.
    text = HEAD.replace("600", "3000") + f"""
[[trigger]]
name = "long shadow"
channel = "orbit.sunlit"
op = "<"
value = 0.5
for_s = 1800
actions = {HARMLESS}
""" + ALWAYS
    r = ScenarioRunner(parse_scenario(text, "unit.toml")).run()
    assert r.fired == {"long shadow": []}
    assert r.actions == ()


def test_repeating_trigger_rearms_only_after_the_condition_clears() -> None:
    text = HEAD.replace("600", "11760") + f"""
[[trigger]]
name = "each eclipse"
channel = "orbit.sunlit"
op = "<"
value = 0.5
once = false
actions = {HARMLESS}
""" + ALWAYS
    r = ScenarioRunner(parse_scenario(text, "unit.toml")).run()
    times = r.fired["each eclipse"]
    assert len(times) == 2  # two orbits, two eclipses: once each, not on every frame
    assert 800 < times[0] < 1000 and 6700 < times[1] < 6900


def test_expectations_report_measured_values() -> None:
    r = run("""
[[expect]]
name = "time stays small"
channel = "sim.time_s"
stat = "max"
op = "<"
value = 50
from_s = 100
to_s = 300

[[expect]]
name = "time reaches 200"
channel = "sim.time_s"
stat = "reaches"
op = ">="
value = 200

[[expect]]
name = "time reaches 1e6"
channel = "sim.time_s"
stat = "reaches"
op = ">="
value = 1e6
""")
    by = {e.name: e for e in r.expectations}
    small, reach, never = by["time stays small"], by["time reaches 200"], by["time reaches 1e6"]
    assert not small.passed and small.values["value"] == 300.0 and small.values["t_s"] == 300.0
    assert small.values["frames"] == 21
    assert "max 300 s at 300 s" in small.measured
    assert reach.passed and reach.values["t_s"] == 200.0
    assert not never.passed and "never reached; closest 600" in never.measured
    assert not r.passed


def test_fault_expectation_sees_injected_and_cleared_faults() -> None:
    r = run("""
[[action]]
at_s = 100
command = "InjectFault"
args = { kind = "pump_degraded", target = "thermal.pump.1", params = { health = 0.8 } }
label = "worn"

[[action]]
at_s = 200
command = "ClearFault"
args = { fault_id = "worn" }

[[expect]]
name = "worn pump in the window"
fault = "pump_degraded"
from_s = 150
to_s = 160

[[expect]]
name = "not after"
fault = "pump_degraded"
active = false
from_s = 250
""")
    assert all(e.passed for e in r.expectations), r.expectations
    assert [a.command for a in r.actions] == ["InjectFault", "ClearFault"]
    assert r.actions[1].args == {"fault_id": 1}


def test_refused_command_fails_the_run_and_is_logged(tmp_path: Path) -> None:
    # Clearing a fault id that does not exist is valid at load time but refused at run time.
    r = run("""
[[action]]
at_s = 50
command = "ClearFault"
args = { fault_id = 7 }
""", tmp_path)
    assert not r.passed and all(e.passed for e in r.expectations)
    assert r.actions[0].status == "BadInvalidArgument"
    with RunStore.open(tmp_path / "run") as store:
        (cmd,) = store.commands()
        assert (cmd.user, cmd.name, cmd.status, cmd.t_s) == ("scenario", "ClearFault",
                                                            "BadInvalidArgument", 50.0)
        assert store.events(kind="command")
    root = junit_tree([r]).getroot()
    case = root.find("testsuite/testcase[@name='commands accepted']")
    assert case is not None and case.find("failure") is not None


def test_junit_is_well_formed_with_failures_and_measured_values(tmp_path: Path) -> None:
    r = run("""
[[expect]]
name = "impossible"
channel = "sim.time_s"
stat = "min"
op = ">"
value = 1e9
""")
    path = write_junit([r], tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "unit"
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["impossible", "time runs", "commands accepted"]
    failure = cases[0].find("failure")
    assert failure is not None and "min(sim.time_s) > 1e+09" in failure.get("message", "")
    assert "measured min 0 s at 0 s" in (failure.text or "")
    assert cases[1].find("failure") is None


def test_same_seed_same_result() -> None:
    text = """
[[action]]
at_s = 60
command = "InjectFault"
args = { kind = "gpu_runaway", target = "compute.rack.2.gpu.1", params = { extra_w = 900.0 } }

[[expect]]
name = "hot"
channel = "compute.hottest_gpu_temp_c"
stat = "max"
op = "<"
value = 200
"""
    a, b = run(text), run(text)
    assert a.expectations[0].values == b.expectations[0].values


def test_simulate_scenario_command_exit_status(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from twin.scenario import simulate_scenario_command

    path = tmp_path / "s.toml"
    path.write_text(HEAD + ALWAYS + """
[[expect]]
name = "fails"
channel = "sim.time_s"
stat = "final"
op = "<"
value = 10
""", encoding="utf-8")
    args = argparse.Namespace(scenario=str(path), seed=5, out=str(tmp_path / "run"),
                              junit=str(tmp_path / "j.xml"), quiet=True, config=None)
    assert simulate_scenario_command(args) == 1
    out = capsys.readouterr().out
    assert "FAIL  fails" in out and "seed 5" in out
    assert (tmp_path / "j.xml").is_file()


def test_alarm_transitions_are_judged_on_every_checked_frame_and_recorded(
        tmp_path: Path) -> None:
    # One pump fails at 100 s: loop 2's GPUs heat through the hottest-GPU yellow limit (82 °C)
    # and red limit (87 °C). Checked every 5 s, recorded every 10 s.
    text = HEAD.replace("record_every_s = 10", "record_every_s = 10\ncheck_every_s = 5") + """
[[action]]
at_s = 100
command = "InjectFault"
args = { kind = "pump_failure", target = "thermal.pump.2" }
""" + ALWAYS
    run_scenario(parse_scenario(text, "unit.toml"), tmp_path / "run")
    with RunStore.open(tmp_path / "run") as store:
        alarms = store.alarms()
        events = store.events(kind="alarm")
        hot = [a for a in alarms if a.source == "compute.hottest_gpu_temp_c"]
        t, x = store.read_channel("compute.hottest_gpu_temp_c")
        ch = next(c for c in store.channels() if c.path == "compute.hottest_gpu_temp_c")
    assert [(a.previous, a.state) for a in hot] == [("ok", "yellow-high"),
                                                    ("yellow-high", "red-high")]
    # during the run, not all at its end; on the check grid, each at the first check past
    # its limit (the recorded tick before it was still inside)
    assert 100.0 < hot[0].t_s < hot[1].t_s < 600.0
    assert all(a.t_s % 5 == 0 for a in alarms)
    for a, limit in zip(hot, (ch.yellow[1], ch.red[1]), strict=True):
        assert a.value is not None and a.value > limit
        assert x[t < a.t_s][-1] <= limit
    # every transition is an alarm event and a row of the alarms table, at the same times
    assert [e.t_s for e in events] == [a.t_s for a in alarms] and len(alarms) > 2
    assert alarms[0].source == "thermal.pump.2.running" and alarms[0].t_s == 100.0

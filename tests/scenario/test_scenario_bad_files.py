"""A corpus of bad scenario files: each gives one ConfigError naming file:line, key, value and
what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.errors import ConfigError
from twin.scenario import load_scenario

GOOD_HEAD = """[scenario]
name = "bad"
duration_s = 600
"""
EXPECT = """
[[expect]]
name = "ok"
channel = "sim.time_s"
stat = "max"
op = ">="
value = 0
"""


def action(args: str, command: str = "InjectFault", at: str = "100") -> str:
    return f"""
[[action]]
at_s = {at}
command = "{command}"
args = {args}
"""


# (id, file body, substrings the one message must contain)
CORPUS = [
    ("toml-syntax", GOOD_HEAD + "duration_s = = 3\n", ["valid TOML", "line 4"]),
    ("unknown-table", GOOD_HEAD + EXPECT + "[[actoin]]\nat_s = 1\n",
     [":11: actoin", "[[action]]"]),
    ("missing-scenario", EXPECT, ["scenario = '<missing>'", "[scenario] table"]),
    ("missing-duration", '[scenario]\nname = "x"\n' + EXPECT,
     ["scenario.duration_s = '<missing>'"]),
    ("unknown-scenario-key", GOOD_HEAD + "lenght_s = 3\n" + EXPECT,
     [":4: scenario.lenght_s = 3", "known keys"]),
    ("satellite-missing", GOOD_HEAD.replace('"bad"', '"b"\nsatellite = "nope.toml"') + EXPECT,
     [":3: scenario.satellite = 'nope.toml'", "not found"]),
    ("step-grid", GOOD_HEAD + "record_every_s = 2.5\n" + EXPECT,
     ["scenario.record_every_s = 2.5", "whole number of plant steps"]),
    ("no-expectations", GOOD_HEAD, ["at least one [[expect]]"]),
    ("unknown-command", GOOD_HEAD + action("{}", command="ShedLoad") + EXPECT,
     [":7: action[1].command = 'ShedLoad'", "SetLoadShedLevel"]),
    ("refused-command", GOOD_HEAD + action('{ name = "a" }', command="RestoreCheckpoint")
     + EXPECT, ["action[1].command = 'RestoreCheckpoint'", "backwards"]),
    ("arg-out-of-range", GOOD_HEAD + action("{ level = 9 }", command="SetLoadShedLevel")
     + EXPECT, [":8: action[1].args.level = 9", "expected 0 to 4"]),
    ("arg-unknown", GOOD_HEAD + action("{ levle = 1 }", command="SetLoadShedLevel") + EXPECT,
     ["action[1].args.levle = 1", "unknown argument 'levle'"]),
    ("arg-missing", GOOD_HEAD + action("{}", command="SetPumpSpeed") + EXPECT,
     ["action[1].args.pump", "missing argument 'pump'"]),
    ("arg-type", GOOD_HEAD + action('{ rack = 1, enabled = "yes" }', command="SetRackEnabled")
     + EXPECT, ["action[1].args.enabled = 'yes'", "true or false"]),
    ("fault-kind", GOOD_HEAD + action('{ kind = "pump_explodes", target = "thermal.pump.1" }')
     + EXPECT, ["action[1].args.kind = 'pump_explodes'", "pump_failure"]),
    ("fault-target", GOOD_HEAD + action('{ kind = "pump_failure", target = "thermal.pump.3" }')
     + EXPECT, ["action[1].args.target = 'thermal.pump.3'", "thermal.pump.<1..2>"]),
    ("fault-param", GOOD_HEAD + action(
        '{ kind = "pump_degraded", target = "thermal.pump.1", params = { health = 2.0 } }')
     + EXPECT, ["action[1].args.params", "health = 2", "outside 0..1"]),
    ("sensor-channel", GOOD_HEAD + action('{ kind = "sensor_stuck", target = "power.nope" }')
     + EXPECT, ["action[1].args.target = 'power.nope'", "channel of the catalogue"]),
    ("time-outside", GOOD_HEAD + action(
        '{ kind = "pump_failure", target = "thermal.pump.1" }', at="900") + EXPECT,
     [":6: action[1].at_s = 900", "0 to 600 s"]),
    ("fault-start-outside", GOOD_HEAD + action(
        '{ kind = "pump_failure", target = "thermal.pump.1", start_s = 700.0 }') + EXPECT,
     ["action[1].args.start_s = 700", "within the run"]),
    ("label-unknown", GOOD_HEAD + action('{ fault_id = "pump" }', command="ClearFault")
     + EXPECT, ["action[1].args.fault_id = 'pump'", "label of an InjectFault"]),
    ("trigger-channel", GOOD_HEAD + """
[[trigger]]
name = "t"
channel = "compute.hotest_gpu_temp_c"
op = ">"
value = 85
actions = [{ command = "SetLoadShedLevel", args = { level = 2 } }]
""" + EXPECT, [":7: trigger[1].channel = 'compute.hotest_gpu_temp_c'", "twin channels"]),
    ("trigger-op", GOOD_HEAD + """
[[trigger]]
name = "t"
channel = "compute.hottest_gpu_temp_c"
op = "=>"
value = 85
actions = [{ command = "SetLoadShedLevel", args = { level = 2 } }]
""" + EXPECT, [":8: trigger[1].op = '=>'", "one of < <="]),
    ("trigger-action-arg", GOOD_HEAD + """
[[trigger]]
name = "t"
channel = "compute.hottest_gpu_temp_c"
op = ">"
value = 85
actions = [{ command = "SetLoadShedLevel", args = { level = -1 } }]
""" + EXPECT, [":10: trigger[1].actions[1].args.level = -1", "expected 0 to 4"]),
    ("expect-stat", GOOD_HEAD + EXPECT.replace('"max"', '"maximum"'),
     [":8: expect[1].stat = 'maximum'", "max, min, mean"]),
    ("expect-window", GOOD_HEAD + EXPECT + "from_s = 300\nto_s = 200\n",
     ["expect[1].to_s = 200", "at or after from_s"]),
    ("expect-two-kinds", GOOD_HEAD + EXPECT + 'fault = "pump_failure"\n',
     ["expect[1] = ", "exactly one of channel, fault or trigger"]),
    ("expect-trigger-unknown", GOOD_HEAD + '[[expect]]\nname = "x"\ntrigger = "nope"\n',
     ["expect[1].trigger = 'nope'", "none defined"]),
]


@pytest.mark.parametrize(("body", "needles"), [(b, n) for _, b, n in CORPUS],
                         ids=[c[0] for c in CORPUS])
def test_bad_scenario_file_gives_one_clear_message(tmp_path: Path, body: str,
                                                   needles: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: expected an existing scenario file"):
        load_scenario(tmp_path / "nope.toml")

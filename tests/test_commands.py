"""The one command path and the running twin: roles, argument checks, effects, the log."""

from __future__ import annotations

import json

import pytest

from twin.config import load_satellite
from twin.runtime import GOOD, Twin


@pytest.fixture
def twin(tmp_path):
    return Twin(load_satellite().config, state_dir=tmp_path)


def test_every_call_is_recorded_with_user_role_arguments_and_result(twin):
    twin.commands.call("SetSpeed", {"speed": 5.0}, user="ana", role="operator")
    twin.commands.call("SetSpeed", {"speed": 5000.0}, user="ana", role="operator")
    a, b = twin.commands.log[-2:]
    assert (a.user, a.role, a.command, a.args, a.status) == (
        "ana", "operator", "SetSpeed", {"speed": 5.0}, "Good")
    assert b.status == "BadOutOfRange" and "0.1 to 1000" in b.message
    assert twin.clock.speed == 5.0
    assert any("SetSpeed" in e.message for e in twin.events)


@pytest.mark.parametrize(("role", "command", "args", "allowed"), [
    ("viewer", "ListFaults", {}, True),
    ("viewer", "Pause", {}, False),
    ("operator", "SetPumpSpeed", {"pump": 1, "speed_pct": 80.0}, True),
    ("operator", "InjectFault", {"kind": "pump_failure", "target": "thermal.pump.1"}, False),
    ("engineer", "InjectFault", {"kind": "pump_failure", "target": "thermal.pump.1"}, True),
    ("stranger", "ListFaults", {}, False),
])
def test_roles(twin, role, command, args, allowed):
    res = twin.commands.call(command, args, user="u", role=role)
    assert res.ok is allowed
    if not allowed:
        assert res.status == "BadUserAccessDenied"


@pytest.mark.parametrize(("command", "args", "status", "words"), [
    ("SetPumpSpeed", {"pump": 3, "speed_pct": 50.0}, "BadOutOfRange", "pump = 3"),
    ("SetPumpSpeed", {"pump": 1, "speed_pct": 150.0}, "BadOutOfRange", "0 to 100"),
    ("SetPumpSpeed", {"pump": 1}, "BadInvalidArgument", "missing argument 'speed_pct'"),
    ("SetPumpSpeed", {"pump": 1, "speed_pct": "fast"}, "BadInvalidArgument", "expected a number"),
    ("SetRackEnabled", {"rack": 2, "enabled": 1}, "BadInvalidArgument", "true or false"),
    ("SetRackEnabled", {"rack": 2.5, "enabled": True}, "BadInvalidArgument", "whole number"),
    ("SetHeaterMode", {"string": 1, "mode": "max"}, "BadInvalidArgument", "auto, off, on"),
    ("SetRackPowerCap", {"rack": 1, "cap_w": 300.0}, "BadOutOfRange", "overhead"),
    ("InjectFault", {"kind": "pump_failure", "target": "thermal.pump.9"}, "BadInvalidArgument",
     "thermal.pump.<1..2>"),
    ("InjectFault", {"kind": "pump_degraded", "target": "thermal.pump.1",
                     "params": "{not json"}, "BadInvalidArgument", "not valid JSON"),
    ("ClearFault", {"fault_id": 99}, "BadInvalidArgument", "no active or pending fault"),
    ("RunUntil", {"t_s": 0.0}, "BadInvalidState", "already"),
    ("Warp", {}, "BadMethodInvalid", "unknown command"),
    ("Pause", {"now": True}, "BadInvalidArgument", "unknown argument 'now'"),
])
def test_refusals_name_the_problem(twin, command, args, status, words):
    res = twin.commands.call(command, args)
    assert not res.ok
    assert res.status == status
    assert words in res.message


def test_commands_reach_the_plant(twin):
    calls = [
        ("SetRackEnabled", {"rack": 3, "enabled": False}),
        ("SetRackPowerCap", {"rack": 4, "cap_w": 4000.0}),
        ("SetPumpSpeed", {"pump": 2, "speed_pct": 50.0}),
        ("SetRadiatorDeploy", {"panel": 5, "deployed": False}),
        ("SetHeaterMode", {"string": 2, "mode": "on"}),
        ("Step", {"n": 30}),
    ]
    for name, args in calls:
        assert twin.commands.call(name, args).ok
    assert twin.tick(0.0) == 30
    m = twin.mirror
    assert m.value("compute.rack.3.power_w") == 0.0
    assert m.value("compute.rack.4.power_w") == pytest.approx(4000.0, rel=1e-6)
    assert m.value("thermal.loop.2.flow_kg_s") == pytest.approx(1.25)
    assert m.value("thermal.radiator.5.deploy_cmd") == 0.0
    assert m.value("power.battery.2.heater_on") == 1.0
    assert m.value("sim.time_s") == 30.0
    assert (m.status == GOOD).all()


def test_fault_commands_and_events(twin):
    res = twin.commands.call("InjectFault", {"kind": "pump_degraded", "target": "thermal.pump.1",
                                             "params": "{\"health\": 0.5}"})
    assert res.ok and res.data == 1
    listed = json.loads(twin.commands.call("ListFaults", role="viewer").data)
    assert listed[0]["kind"] == "pump_degraded" and listed[0]["state"] == "active"
    twin.commands.call("Step", {"n": 1})
    twin.tick(0.0)
    assert twin.mirror.value("thermal.loop.1.flow_kg_s") == pytest.approx(1.25)
    assert twin.commands.call("ClearFault", {"fault_id": 1}).ok
    kinds = [e.kind for e in twin.events]
    assert kinds.count("fault") == 2


def test_checkpoint_save_and_restore_by_name(twin):
    twin.commands.call("Step", {"n": 20})
    twin.tick(0.0)
    assert twin.commands.call("SaveCheckpoint", {"name": "before-test"}).ok
    soc = twin.mirror.value("power.battery.1.soc_pct")
    twin.commands.call("Step", {"n": 100})
    twin.tick(0.0)
    assert twin.mirror.value("sim.time_s") == 120.0
    assert twin.commands.call("RestoreCheckpoint", {"name": "before-test"}).ok
    assert twin.mirror.value("sim.time_s") == 20.0
    assert twin.mirror.value("power.battery.1.soc_pct") == soc
    bad = twin.commands.call("SaveCheckpoint", {"name": "../escape"})
    assert bad.status == "BadInvalidArgument"
    assert twin.commands.call("RestoreCheckpoint", {"name": "nope"}).status == \
        "BadInvalidArgument"


async def test_run_publishes_frames_until_stopped(twin):
    import asyncio

    frames = []
    stop = asyncio.Event()

    def seen(t):
        frames.append(t.plant.t_s)
        if len(frames) >= 4:
            stop.set()

    twin.on_frame(seen)
    twin.commands.call("RunUntil", {"t_s": 5000.0})
    await asyncio.wait_for(twin.run(stop), timeout=60)
    assert frames == sorted(frames) and frames[-1] > 0


def test_whoami_names_the_caller_and_queries_raise_no_command_event():
    import json as _json

    from twin.config import load_satellite
    from twin.runtime import Twin

    twin = Twin(load_satellite().config)
    before = len(twin.events)
    res = twin.commands.call("WhoAmI", user="vera", role="viewer")
    assert _json.loads(res.data) == {"user": "vera", "role": "viewer"}
    assert twin.commands.call("ListFaults", role="viewer").ok
    assert len(twin.events) == before  # reads are recorded, not announced
    assert [r.command for r in twin.commands.log[-2:]] == ["WhoAmI", "ListFaults"]
    assert not twin.commands.call("Pause", role="viewer").ok
    assert twin.events[-1].kind == "command"  # a refusal is announced


def test_the_fault_catalogue_is_served_as_json_with_the_target_each_kind_takes():
    import json as _json

    from twin.config import load_satellite
    from twin.model.faults import KINDS
    from twin.runtime import Twin

    res = Twin(load_satellite().config).commands.call("ListFaultKinds", role="viewer")
    def no_constants(name: str) -> float:  # strict JSON, for any client (JavaScript's too)
        raise AssertionError(f"{name} in the JSON")

    kinds = {k["kind"]: k for k in _json.loads(res.data, parse_constant=no_constants)}
    assert set(kinds) == set(KINDS)
    assert kinds["pump_failure"]["target"] == "thermal.pump.N"
    assert kinds["board_link_down"]["target"] == "hil.<board>"
    stuck = kinds["sensor_stuck"]["params"][0]
    assert (stuck["name"], stuck["default"]) == ("value", None)  # NaN: the value at failure

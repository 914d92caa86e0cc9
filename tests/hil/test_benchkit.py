"""The bench kit: its helpers on the embedded stubs, and the shipped example bench tests run as a
lab runs them (``pytest -p hil.benchkit examples/bench``) in a subprocess — against the stubs
with no lab file, and against a lab file pointing at boards on real wires."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from hilkit import CFG, new_twin

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.benchkit import (
    ENV_BOARDS,
    ENV_STATE_DIR,
    SKIP_REASON,
    STUBS_SKIP_REASON,
    Bench,
    make_bench,
)
from hil.boardfile import load_boards
from hil.lab import lab_twin
from hil.poller import CommandResult
from twin.embedded import command_sink

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bench"


def bench_env(lab: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_BENCH_")}
    if lab is not None:
        env[ENV_BOARDS] = str(lab)
    return env


async def run_pytest(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-p", "hil.benchkit", "-p", "no:cacheprovider",
        "-rs", "-v", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 240.0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(errors="replace")


# --- the helpers -----------------------------------------------------------------------------
@pytest.fixture
def stub_bench(monkeypatch) -> Bench:
    monkeypatch.delenv(ENV_BOARDS, raising=False)
    with make_bench() as b:
        yield b


def test_stepping_runs_exactly_the_steps_asked_for_while_paused(stub_bench):
    t0 = stub_bench.step(1)
    assert stub_bench.step(3) == pytest.approx(t0 + 3 * stub_bench.twin.clock.step_s)
    assert stub_bench.sim_s == pytest.approx(t0 + 3 * stub_bench.twin.clock.step_s)
    reached = stub_bench.run_for(20.0)
    assert reached == pytest.approx(t0 + 23 * stub_bench.twin.clock.step_s)


def test_a_condition_never_met_fails_with_the_channels_last_samples(stub_bench):
    with pytest.raises(AssertionError, match=r"not within 0.3 s: power.bus.voltage_v: .*Good"):
        stub_bench.wait_for("power.bus.voltage_v", lambda v: v < -1.0, within_s=0.3)


def test_leaving_a_band_fails_at_the_first_sample_outside(stub_bench):
    with pytest.raises(AssertionError, match=r"power.bus.voltage_v left \[0, 1\]"):
        stub_bench.assert_between("power.bus.voltage_v", 0.0, 1.0, for_s=1.0)


def test_an_estimated_channel_is_not_good_unless_asked_to_accept_it(stub_bench):
    s = stub_bench.wait_for("power.array.1.power_w", lambda v: True, good=False, within_s=1.0)
    assert s.quality.startswith("Uncertain")
    with pytest.raises(AssertionError, match="not Good"):
        stub_bench.assert_between("power.array.1.power_w", -1e12, 1e12, for_s=0.2)


def test_a_refused_command_fails_the_test_with_the_twins_reason(stub_bench):
    with pytest.raises(AssertionError, match=r"SetPumpSpeed .*: BadOutOfRange: .*0 to 100"):
        stub_bench.command("SetPumpSpeed", pump=1, speed_pct=150.0)
    res = stub_bench.command("SetPumpSpeed", check=False, pump=1, speed_pct=150.0)
    assert not res.ok


SCENARIO = """
[scenario]
name = "{name}"
description = "pump 2 to 80 %; the thermal board measures it"
duration_s = 40
check_every_s = 1.0

[[action]]
at_s = 5
command = "SetPumpSpeed"
args = {{ pump = 2, speed_pct = 80.0 }}

[[expect]]
name = "pump 2 reaches the setpoint"
channel = "thermal.pump.2.speed_pct"
stat = "reaches"
op = ">="
value = {value}
from_s = 5
to_s = 40
"""


@pytest.fixture
def scenario_bench(tmp_path, monkeypatch) -> Bench:
    """A bench on the stubs whose state folder holds two scenarios of its own."""
    (tmp_path / "scenarios").mkdir()
    for name, value in (("bench-pump", 79.5), ("bench-pump-too-high", 200.0)):
        (tmp_path / "scenarios" / f"{name}.toml").write_text(
            SCENARIO.format(name=name, value=value), encoding="utf-8")
    monkeypatch.delenv(ENV_BOARDS, raising=False)
    monkeypatch.setenv(ENV_STATE_DIR, str(tmp_path))
    with make_bench() as b:
        yield b


def test_a_scenario_runs_through_the_command_path_to_its_verdict(scenario_bench):
    status = scenario_bench.scenario("bench-pump", speed=10.0, within_s=30.0, check=True)
    assert status["state"] == "passed" and status["name"] == "bench-pump"
    [expectation] = status["result"]["expectations"]
    assert expectation["passed"]
    assert [a["command"] for a in status["result"]["actions"]] == ["SetPumpSpeed"]
    done = [r.command for r in scenario_bench.twin.commands.log if r.user == "bench"]
    assert done[:4] == ["LoadScenario", "SetSpeed", "StartScenario", "Resume"]
    assert done[-1] == "ScenarioStatus"


def test_a_failed_scenario_is_returned_or_fails_the_test_naming_the_expectation(scenario_bench):
    status = scenario_bench.scenario("bench-pump-too-high", speed=10.0, within_s=30.0)
    assert status["state"] == "failed"
    assert not status["result"]["expectations"][0]["passed"]
    with pytest.raises(AssertionError, match=r"scenario bench-pump-too-high failed\n  failed: "
                                             r"pump 2 reaches the setpoint"):
        scenario_bench.scenario("bench-pump-too-high", speed=10.0, within_s=30.0, check=True)


def test_a_scenario_that_does_not_end_in_time_is_stopped_and_fails_the_test(scenario_bench):
    with pytest.raises(AssertionError, match=r"not within 0.5 s: scenario bench-pump: still "
                                             r"running"):
        scenario_bench.scenario("bench-pump", within_s=0.5)  # 40 s at real time
    assert scenario_bench.call(lambda: scenario_bench.twin.scenarios.state) == "stopped"


# --- commands against lab boards: the twin answers first, the boards confirm later ---------
def refusing(sink, prefix):
    """A board's command callback that refuses commands to ``prefix`` (an interlock)."""

    def apply(path, value):
        if path.startswith(prefix):
            raise RuntimeError("interlocked")
        sink(path, value)

    return apply


async def test_a_bench_command_waits_for_the_boards_and_returns_their_typed_failures(tmp_path):
    """Stub boards on a pty and a TCP port, sensing a world plant that obeys them; the thermal
    board refuses pump commands (exception 04), the rack controller stops answering."""
    world = new_twin(mode="realtime")
    boards = load_boards(world.catalogue)
    sink = command_sink(world)
    stubs = []
    for name in ("power", "thermal", "rack"):
        kw = {"host": "127.0.0.1", "port": 0} if name == "thermal" else {}
        on_command = refusing(sink, "thermal.pump") if name == "thermal" else sink
        stubs.append(await make_stub(boards[name], plant_source(world.plant, world.catalogue),
                                     on_command=on_command, **kw).start())
    power, thermal, rack = stubs
    lab = tmp_path / "lab.toml"
    lab.write_text(f'[[board]]\nname = "power"\ndevice = "{power.port}"\n'
                   f'[[board]]\nname = "thermal"\nhost = "127.0.0.1"\nport = {thermal.port}\n'
                   f'[[board]]\nname = "rack"\ndevice = "{rack.port}"\n', encoding="utf-8")
    twin, _ = lab_twin(CFG, lab, seed=1, mode="realtime")
    bench = Bench(twin, lab)
    try:
        # the bench's twin runs on a thread of its own; this loop serves the stub boards
        await asyncio.to_thread(bench.start)
        ok = await asyncio.to_thread(bench.command, "SetRadiatorDeploy", panel=2, deployed=True)
        assert ok.ok and [b.ok for b in ok.boards] == [True] and ok.reason == ""

        refused = await asyncio.to_thread(bench.command, "SetPumpSpeed", check=False, pump=1,
                                          speed_pct=40.0)
        assert refused.result.ok  # the twin took it (an OPC UA caller got Good) ...
        assert not refused.ok  # ... the board did not
        [why] = refused.failures
        assert isinstance(why, CommandResult)
        assert (why.reason, why.code, why.path) == ("exception", 4, "thermal.pump.1.speed_pct")
        assert refused.reason == "exception" and "exception 04" in str(refused)
        events = await asyncio.to_thread(
            bench.call, lambda: [e for e in twin.events if e.kind == "board"])
        assert events[-1].severity == 700 and events[-1].data["reason"] == "exception"
        with pytest.raises(AssertionError, match=r"SetPumpSpeed .*the board refused or did "
                                                 r"not confirm: .*exception 04"):
            await asyncio.to_thread(bench.command, "SetPumpSpeed", pump=1, speed_pct=45.0)

        await rack.inject_fault("dropout")
        silent = await asyncio.to_thread(bench.command, "SetRackEnabled", check=False, rack=4,
                                         enabled=False)
        results = sorted((b.ok, b.reason) for b in silent.boards)
        assert results == [(False, "timeout"), (True, "")]  # the rack is silent; power confirms
        assert silent.reason == "timeout" and "no ACK/NAK" in silent.failures[0].detail
        unconfirmed = await asyncio.to_thread(bench.command, "SetRackEnabled", confirm=False,
                                              rack=4, enabled=True)
        assert unconfirmed.ok and unconfirmed.boards == ()  # not waited for
    finally:
        await asyncio.to_thread(bench.close)
        for s in stubs:
            await s.close()


# --- the examples, as a lab runs them --------------------------------------------------------
async def test_the_example_bench_tests_pass_on_the_stubs_and_hardware_tests_skip_with_reason():
    rc, out = await run_pytest(bench_env(None), str(EXAMPLES))
    assert rc == 0, out
    assert "4 passed, 1 skipped" in out, out
    assert "embedded firmware stubs" in out
    assert SKIP_REASON in out and "test_links.py" in out


async def test_the_example_bench_tests_pass_against_a_lab_file_of_boards_on_wires(tmp_path):
    """The boards here are stubs on a pty and a TCP port sensing a 'world' plant of their own,
    which obeys the commands they receive: the bench twin sees its commands' effects only
    through the wires, as in a lab."""
    world = new_twin(mode="realtime")
    boards = load_boards(world.catalogue)
    stubs = []
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(world.run(stop))
    try:
        for name in ("power", "thermal", "rack"):
            kw = {"host": "127.0.0.1", "port": 0} if name == "thermal" else {}
            stubs.append(await make_stub(boards[name], plant_source(world.plant, world.catalogue),
                                         on_command=command_sink(world), **kw).start())
        power, thermal, rack = stubs
        lab = tmp_path / "lab.toml"
        lab.write_text(f'[lab]\nname = "wires"\n'
                       f'[[board]]\nname = "power"\ndevice = "{power.port}"\n'
                       f'[[board]]\nname = "thermal"\nhost = "127.0.0.1"\nport = {thermal.port}\n'
                       f'[[board]]\nname = "rack"\ndevice = "{rack.port}"\n', encoding="utf-8")
        rc, out = await run_pytest(bench_env(lab), str(EXAMPLES))
        assert rc == 0, out
        assert "4 passed, 1 skipped" in out, out
        assert STUBS_SKIP_REASON in out and "test_scenario.py" in out
        assert f"boards of lab file {lab}" in out
        rack_cmds = [(r.user, r.args["rack"], r.args["enabled"])
                     for r in world.commands.log if r.command == "SetRackEnabled"]
        assert ("board", 2, False) in rack_cmds and ("board", 2, True) in rack_cmds
        assert [r.args for r in world.commands.log if r.command == "SetPumpSpeed"][-1] == {
            "pump": 2, "speed_pct": 80.0}
    finally:
        stop.set()
        await running
        for s in stubs:
            await s.close()


async def test_a_bad_lab_file_fails_the_bench_with_one_line_naming_file_and_key(tmp_path):
    lab = tmp_path / "lab.toml"
    lab.write_text('[[board]]\nname = "power"\ndevice = "/dev/x"\nbuad = 9600\n',
                   encoding="utf-8")
    rc, out = await run_pytest(bench_env(lab), str(EXAMPLES / "test_rack_power.py"))
    assert rc == 1, out
    assert f"twin bench: {lab}: board[0].buad = 9600: expected one of the known keys" in out


async def test_a_silent_board_fails_the_bench_naming_it(tmp_path):
    lab = tmp_path / "lab.toml"
    lab.write_text('[[board]]\nname = "thermal"\nhost = "127.0.0.1"\nport = 1\n',
                   encoding="utf-8")
    env = bench_env(lab) | {"TWIN_BENCH_STARTUP_S": "1"}
    rc, out = await run_pytest(env, str(EXAMPLES / "test_rack_power.py"))
    assert rc == 1, out
    assert "no answer within 1 s from board(s) thermal (127.0.0.1:1" in out, out

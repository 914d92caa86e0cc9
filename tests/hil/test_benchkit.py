"""The bench kit: its helpers on the embedded stubs, and the shipped example bench tests run as a
lab runs them (``pytest -p hil.benchkit examples/bench``) in a subprocess — against the stubs
with no lab file, and against a lab file pointing at boards on real wires."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from hilkit import new_twin

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.benchkit import ENV_BOARDS, SKIP_REASON, Bench, make_bench
from hil.boardfile import load_boards
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


# --- the examples, as a lab runs them --------------------------------------------------------
async def test_the_example_bench_tests_pass_on_the_stubs_and_hardware_tests_skip_with_reason():
    rc, out = await run_pytest(bench_env(None), str(EXAMPLES))
    assert rc == 0, out
    assert "3 passed, 1 skipped" in out, out
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
        assert "4 passed" in out, out
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

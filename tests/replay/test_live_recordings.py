"""Recordings of live twins: a lab recording (real boards) is measured — forked from its recorded
state, never re-simulated — while a live run of the model alone re-simulates.

The lab recording is made as ``twin serve --boards LAB.toml`` makes it: a twin built from a lab
file (:func:`hil.lab.lab_twin`) polling its boards (:class:`hil.lab.LabBoards`), recorded by
:func:`twin.recording.start_recording` with the lab file in ``args.boards``. The boards are
firmware stubs started here on ptys and a loopback TCP port, sensing another plant (the "world":
the real satellite, whose pump 2 has failed), so the lab twin's own shadow model and what the
boards measure differ, as they do in a lab.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from firmware_stubs import make_stub
from firmware_stubs.sources import plant_source
from hil.boardfile import load_boards
from hil.lab import LabBoards, lab_twin
from twin.catalogue import build_catalogue
from twin.cli import main
from twin.config import load_satellite
from twin.errors import TwinError
from twin.recording import start_recording
from twin.replay import Action, fork, resimulate
from twin.replay.driver import comparable
from twin.runtime import GOOD, Twin
from twin.store import RunStore

CFG = load_satellite().config
CAT = build_catalogue(CFG)
PUMP = "thermal.pump.2.running"


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    """Wait until ``predicate()`` holds (a condition wait, checked every 10 ms)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def stub_lab(world: Twin, tmp_path: Path) -> AsyncIterator[Path]:
    """The three shipped boards as stubs sensing ``world``, and a lab file pointing at them."""
    boards = load_boards(CAT)
    stubs = []
    try:
        for name in ("power", "thermal", "rack"):
            kw = {"host": "127.0.0.1", "port": 0} if name == "thermal" else {}
            stubs.append(await make_stub(boards[name], plant_source(world.plant, CAT),
                                         **kw).start())
        power, thermal, rack = stubs
        lab = tmp_path / "lab.toml"
        lab.write_text(f"""
[lab]
name = "test-bench"
[[board]]
name = "power"
device = "{power.port}"
[[board]]
name = "thermal"
host = "127.0.0.1"
port = {thermal.port}
[[board]]
name = "rack"
device = "{rack.port}"
""", encoding="utf-8")
        yield lab
    finally:
        for s in stubs:
            await s.close()


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lab recording: the boards read a satellite whose pump 2 failed 10 minutes ago."""
    tmp = tmp_path_factory.mktemp("lab")
    world = Twin(CFG, seed=1)
    assert world.commands.call("InjectFault", {"kind": "pump_failure",
                                               "target": "thermal.pump.2"}).ok
    world.plant.run(600, 1.0)

    async def record() -> None:
        async with stub_lab(world, tmp) as lab_file:
            twin, lab = lab_twin(CFG, lab_file, seed=7, mode="realtime", speed=20.0)
            rec = start_recording(twin, argparse.Namespace(
                command="serve", boards=str(lab_file), record=str(tmp / "lab-run"),
                no_record=False))
            assert rec is not None
            stop = asyncio.Event()
            async with LabBoards(twin, lab):
                task = asyncio.get_running_loop().create_task(twin.run(stop))
                try:
                    i = twin.catalogue[PUMP].index
                    await until(lambda: twin.mirror.status[i] == GOOD
                                and twin.mirror.values[i] == 0.0, 20.0)
                    t_seen = twin.plant.t_s
                    await until(lambda: twin.plant.t_s >= t_seen + 30.0, 20.0)
                finally:
                    stop.set()
                    await task
            rec.close()

    asyncio.run(record())
    return tmp / "lab-run"


def test_a_lab_recording_is_marked_measured(lab_run: Path) -> None:
    with RunStore.open(lab_run) as run:
        assert run.meta.origin == "measured" and run.meta.measured
        assert any(c.path.startswith("hil.") for c in run.channels())
        _, running = run.read_channel(PUMP)
    assert running[-1] == 0.0  # the boards' reading: the world's failed pump


def test_a_lab_recording_is_not_resimulated_and_the_reason_is_given(
        lab_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TwinError, match="cannot be re-simulated"):
        resimulate(lab_run, tmp_path / "again")
    assert main(["replay", str(lab_run), "--resimulate", str(tmp_path / "again2")]) != 0
    err = capsys.readouterr().err
    assert "real boards is measured" in err and "--fork T" in err


def test_forking_a_lab_recording_starts_from_the_recorded_state_and_says_what_was_estimated(
        lab_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with RunStore.open(lab_run) as run:
        times, running = run.read_channel(PUMP)
        at = float(times[running == 0.0][0])  # the first tick the failed pump was measured
        supply = run.read_instant(at)[run.channel_index("thermal.loop.2.supply_temp_c")]
    out = tmp_path / "branch"
    assert main(["replay", str(lab_run), "--fork", f"{at:g}", "--until", f"{at + 60:g}",
                 "--do", "SetLoadShedLevel level=2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "estimated states (not measured): plate_k" in text
    with RunStore.open(out) as br:
        assert br.meta.origin == "branch" and br.meta.measured  # history measured
        fk = br.meta.extra["fork"]
        assert "pump_failed" in fk["measured_states"] and fk["estimated_states"]
        t, run_after = br.read_channel(PUMP, at + 1e-9)
        _, sup = br.read_channel("thermal.loop.2.supply_temp_c", at + 1e-9)
    # the shadow model's pump ran; the branch's plant starts from the measured, failed one
    assert t.size and np.all(run_after == 0.0)
    assert sup[0] == pytest.approx(supply, abs=1.0)
    with pytest.raises(TwinError, match="cannot be re-simulated"):
        resimulate(out, tmp_path / "branch-again")
    res = fork(lab_run, at, tmp_path / "b2", [Action("SetLoadShedLevel", {"level": 2})],
               end_s=at + 20)
    assert res.matched_parent is None and res.estimated  # nothing to match: no re-simulation


def test_a_live_run_of_the_model_alone_resimulates_on_every_plant_channel(
        tmp_path: Path) -> None:
    """``twin serve`` without boards: the plant is the truth and each command is logged with
    the side of the frame it acted on, so a re-simulation reproduces the plant bit for bit;
    only the live clock's own channels (mode, speed) differ."""
    twin = Twin(CFG, seed=4)
    rec = start_recording(twin, argparse.Namespace(command="serve", record=str(tmp_path / "l"),
                                                   no_record=False))
    assert rec is not None
    twin.commands.call("InjectFault", {"kind": "pump_failure", "target": "thermal.pump.2"},
                       user="erin")
    for i in range(30):
        twin.commands.call("Step", {"n": 10}, user="otto", role="operator")
        twin.tick(time.monotonic())
        if i == 12:  # between ticks: after the frame of its instant
            twin.commands.call("SetLoadShedLevel", {"level": 2}, user="erin")
    rec.close()
    out = resimulate(tmp_path / "l", tmp_path / "again")
    with RunStore.open(tmp_path / "l") as a, RunStore.open(out) as b:
        assert a.meta.origin == "live" and not a.meta.measured
        assert b.meta.origin == "simulated"
        ta, fa = a.read_frames()
        tb, fb = b.read_frames()
        differ = [c.path for c in a.channels()
                  if not np.array_equal(fa[:, c.index], fb[:, c.index], equal_nan=True)]
        alarms = [[(x.t_s, x.source, x.previous, x.state, x.value) for x in r.alarms()]
                  for r in (a, b)]
        cols = comparable(a)
    assert np.array_equal(ta, tb) and fa[:, cols].tobytes() == fb[:, cols].tobytes()
    assert differ == ["sim.mode", "sim.speed_x"]  # live: paused, 1×; re-simulated: fast
    assert alarms[0] == alarms[1] and alarms[0]
    res = fork(tmp_path / "l", 150.0, tmp_path / "br", [Action("SetLoadShedLevel", {"level": 4})])
    assert res.matched_parent is True and res.estimated == []

"""The replayer shows the store's frames (sample-and-hold), plays at speed on a fake wall clock,
seeks fast, steps tick by tick, and a ReplayTwin drives the mirror without stepping the plant."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from twin.errors import CommandError
from twin.replay import Replayer, ReplayTwin
from twin.replay.resim import load_config
from twin.store import RunStore


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_seek_shows_the_latest_recorded_tick_at_or_before_the_time(pump_run: Path) -> None:
    with RunStore.open(pump_run) as run:
        r = Replayer(run, wall=FakeWall())
        r.seek(305.0)  # between the ticks at 300 and 310: held at 300
        assert r.tick_s == 300.0
        assert np.array_equal(r.frame, run.read_instant(300.0), equal_nan=True)
        r.seek(1e9)  # clamped to the end
        assert r.tick_s == 900.0
        assert np.array_equal(r.frame, run.read_instant(900.0), equal_nan=True)


def test_seek_anywhere_takes_well_under_200_ms(pump_run: Path) -> None:
    with RunStore.open(pump_run) as run:
        r = Replayer(run, wall=FakeWall())
        worst = 0.0
        for t in (850.0, 10.0, 470.0, 0.0, 900.0, 333.0):
            t0 = time.perf_counter()
            r.seek(t)
            worst = max(worst, time.perf_counter() - t0)
        assert worst < 0.2  # the figure for a 24 h run is in bench/ and the report


def test_plays_at_speed_with_the_wall_clock_and_stops_at_the_end(pump_run: Path) -> None:
    wall = FakeWall()
    with RunStore.open(pump_run) as run:
        r = Replayer(run, speed=100.0, wall=wall)
        r.play()
        wall.now += 1.0  # one wall second at 100× is 100 simulated seconds
        assert r.update()
        assert r.position == pytest.approx(100.0)
        assert np.array_equal(r.frame, run.read_instant(100.0), equal_nan=True)
        r.set_speed(0.1)
        wall.now += 10.0  # + 1 s
        r.update()
        assert r.position == pytest.approx(101.0) and r.tick_s == 100.0
        r.set_speed(1000.0)
        wall.now += 10.0
        r.update()
        assert r.position == 900.0 and not r.playing
        with pytest.raises(CommandError):
            r.set_speed(5000.0)


def test_pause_holds_and_step_moves_one_recorded_tick(pump_run: Path) -> None:
    wall = FakeWall()
    with RunStore.open(pump_run) as run:
        r = Replayer(run, speed=10.0, at_s=50.0, playing=True, wall=wall)
        r.pause()
        wall.now += 100.0
        assert not r.update() and r.tick_s == 50.0
        r.step()
        assert r.tick_s == 60.0
        r.step(-3)
        assert r.tick_s == 30.0


def test_replay_twin_drives_the_mirror_and_never_steps_the_plant(pump_run: Path) -> None:
    wall = FakeWall()
    with RunStore.open(pump_run) as run:
        twin = ReplayTwin(load_config(run.meta), run, speed=50.0, wall=wall)
        seen: list[float] = []
        twin.on_frame(lambda tw: seen.append(float(tw.mirror.source_s[0])))
        tick0 = twin.plant.state.tick
        assert twin.commands.call("Resume").ok
        wall.now += 4.0  # 200 s at 50×
        assert twin.tick(wall.now) == 1
        recorded = twin.mirror.values[:twin.n_recorded].copy()
        clock = [twin.catalogue[p].index for p in ("sim.mode", "sim.speed_x", "sim.behind_s")]
        expected = run.read_instant(200.0)
        recorded[clock] = expected[clock] = 0.0  # the play head's clock: test_..._clock_state
        assert np.array_equal(recorded, expected, equal_nan=True)
        span = twin.mirror.values[twin.n_recorded:]  # sim.replay.start_s, end_s
        assert span.tolist() == [run.time_range()[0], run.time_range()[1]]
        assert seen[-1] == 200.0 and twin.plant.t_s == 200.0
        assert twin.plant.state.tick == tick0  # not stepped: only its clock follows
        refused = twin.commands.call("SetPumpSpeed", {"pump": 1, "speed_pct": 50})
        assert not refused.ok and refused.status == "BadInvalidState"
        assert "fork" in refused.message
        assert twin.commands.call("Pause").ok
        assert twin.commands.call("Step", {"n": 2}).ok
        assert twin.mirror.source_s[0] == 220.0
        assert twin.commands.call("Seek", {"t_s": 100.0}).ok  # only a replay can seek
        assert twin.mirror.source_s[0] == 100.0 and twin.clock.mode == "paused"
        assert twin.commands.call("RunUntil", {"t_s": 100.0}).ok  # earlier: a seek back
        assert twin.mirror.source_s[0] == 100.0


def test_the_replayed_clock_channels_show_the_play_heads_state_not_the_recorded_one(
        pump_run: Path) -> None:
    """A batch run recorded sim.mode = 2 ("fast") and sim.speed_x = 0; a client of the replay
    sees whether the play head plays or is paused, and at what speed."""
    wall = FakeWall()
    with RunStore.open(pump_run) as run:
        recorded = run.read_instant(300.0)
        twin = ReplayTwin(load_config(run.meta), run, speed=50.0, at_s=300.0, wall=wall)

        def shown() -> tuple[float, float, float, float]:
            return (twin.mirror.value("sim.mode"), twin.mirror.value("sim.speed_x"),
                    twin.mirror.value("sim.behind_s"), twin.mirror.value("sim.time_s"))

        i = twin.catalogue["sim.mode"].index
        assert (recorded[i], recorded[twin.catalogue["sim.speed_x"].index]) == (2.0, 0.0)
        assert shown() == (0.0, 50.0, 0.0, 300.0)  # paused (sim.mode 0) at the play head
        assert twin.commands.call("Resume").ok
        assert shown() == (1.0, 50.0, 0.0, 300.0)  # playing ("realtime"), before any tick
        assert twin.commands.call("SetSpeed", {"speed": 200.0}).ok
        assert shown()[:2] == (1.0, 200.0)
        wall.now += 1.0  # 200 s at 200×
        twin.tick(wall.now)
        assert shown() == (1.0, 200.0, 0.0, 500.0)
        assert twin.commands.call("Pause").ok
        assert shown() == (0.0, 200.0, 0.0, 500.0)
        assert twin.commands.call("Resume").ok
        wall.now += 5.0  # past the end at 200×: the play head stops there, paused
        twin.tick(wall.now)
        assert shown() == (0.0, 200.0, 0.0, 900.0)


def test_a_replay_forks_a_what_if_at_the_play_head(pump_run: Path, tmp_path: Path) -> None:
    """Fork over the command path (the OPC UA method): the branch starts at the play head,
    carries the actions, names its parent; bad actions are refused before anything runs."""
    with RunStore.open(pump_run) as run:
        parent_id = run.meta.run_id
        twin = ReplayTwin(load_config(run.meta), run, at_s=300.0)
        bad = twin.commands.call("Fork", {"actions": "Explode now=1"}, role="operator")
        assert bad.status == "BadInvalidArgument" and "unknown command 'Explode'" in bad.message
        out = tmp_path / "shed"
        res = twin.commands.call("Fork", {"out": str(out),
                                          "actions": "SetLoadShedLevel level=2; "
                                                     "@400 SetPumpSpeed pump=1 speed_pct=100"},
                                 user="ana", role="operator")
        assert res.ok, res.message
        assert "forking at 300 s" in res.data
        done = [e for e in twin.events if e.kind == "fork"]
        assert done and done[-1].severity == 200 and str(out) in done[-1].message
        again = twin.commands.call("Fork", {"out": str(out)}, role="operator")
        assert again.status == "BadInvalidArgument" and "already exists" in again.message
    with RunStore.open(out) as branch:
        assert branch.meta.parent_id == parent_id and branch.meta.fork_t_s == 300.0
        after = {c.name: c for c in branch.commands(300.0)}
        assert after["SetLoadShedLevel"].t_s == 300.0 and after["SetLoadShedLevel"].status == "Good"
        assert after["SetPumpSpeed"].t_s == 400.0


def test_a_recording_from_an_older_version_replays_without_the_channels_it_lacks(
        tmp_path: Path) -> None:
    """A run recorded before sim.scenario.* existed: those show BadNoData, the rest as recorded."""
    import dataclasses

    from twin.catalogue import build_catalogue
    from twin.config import load_satellite
    from twin.replay.player import BAD_NO_DATA
    from twin.runtime import Twin
    from twin.store import run_meta

    cfg = load_satellite().config
    now = build_catalogue(cfg)
    old = [dataclasses.replace(c, index=i) for i, c in enumerate(
        c for c in now.channels if not c.path.startswith("sim.scenario."))]
    keep = [c.index for c in now.channels if not c.path.startswith("sim.scenario.")]
    twin = Twin(cfg, seed=3)
    with RunStore.create(tmp_path / "old", old, run_meta(cfg, 3, 1.0, 10.0)) as store:
        for _ in range(3):
            store.append(twin.plant.t_s, now.sample(twin.plant)[keep])
            twin.plant.run(10, 1.0)
    with RunStore.open(tmp_path / "old") as run:
        replay = ReplayTwin(load_config(run.meta), run)
        m, cat = replay.mirror, replay.catalogue
        i_state, i_soc = cat["sim.scenario.state"].index, cat["power.battery.1.soc_pct"].index
        assert np.isnan(m.values[i_state]) and m.status[i_state] == BAD_NO_DATA
        assert m.status[i_soc] == 0
        assert m.values[i_soc] == pytest.approx(run.read_instant(0.0)[
            run.channel_index("power.battery.1.soc_pct")])

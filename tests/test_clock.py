"""The simulation clock, driven by a fake wall clock: modes, speed, steps, run-until, lag."""

from __future__ import annotations

import pytest

from twin.clock import Clock
from twin.errors import CommandError
from twin.model.plant import Plant


def drive(clock: Clock, wall_times: list[float]) -> list[int]:
    """Run the clock's loop at the given wall instants; returns the steps run at each."""
    ran = []
    for w in wall_times:
        n = clock.due(w)
        clock.advanced(n)
        ran.append(n)
    return ran


def test_paused_clock_runs_nothing_until_stepped():
    c = Clock(step_s=1.0)
    assert drive(c, [0.0, 5.0, 100.0]) == [0, 0, 0]
    c.step(3)
    assert drive(c, [101.0, 102.0]) == [3, 0]
    assert c.sim_s == 3.0 and c.mode == "paused"


def test_realtime_follows_the_wall_clock_times_speed():
    c = Clock(step_s=1.0, mode="realtime", speed=1.0)
    assert drive(c, [10.0, 10.5, 11.0, 13.0]) == [0, 0, 1, 2]
    c.set_speed(10.0)
    assert drive(c, [13.0, 14.0, 14.25]) == [0, 10, 2]
    assert c.sim_s == pytest.approx(15.0)


def test_slow_motion_runs_a_step_every_ten_wall_seconds():
    c = Clock(step_s=1.0, mode="realtime", speed=0.1)
    ran = drive(c, [float(w) for w in range(0, 31)])
    assert sum(ran) == 3
    assert c.next_wakeup_s(31.0) == pytest.approx(40.0)


def test_fast_mode_runs_batches_until_paused():
    c = Clock(step_s=1.0, mode="fast", max_batch=50)
    assert drive(c, [0.0, 0.0]) == [50, 50]
    c.pause()
    assert drive(c, [1.0]) == [0]


def test_run_until_stops_exactly_and_pauses():
    c = Clock(step_s=0.5, max_batch=1000)
    c.run_until(12.0)
    assert drive(c, [0.0, 0.0]) == [24, 0]
    assert c.sim_s == 12.0 and c.mode == "paused" and c.run_until_s is None


def test_falling_behind_is_reported_not_hidden():
    c = Clock(step_s=1.0, mode="realtime", speed=1000.0, max_batch=100, resync_s=0.5)
    c.due(0.0)
    n = c.due(10.0)  # 10,000 steps due, only 100 allowed per call
    assert n == 100
    assert c.lag_events == 1  # 9.9 s behind > 0.5 s: re-anchored and counted
    c.advanced(n)
    assert c.status().lag_events == 1


@pytest.mark.parametrize("bad", [0.0, 0.05, 2000.0, float("nan"), "fast"])
def test_bad_speeds_are_refused(bad):
    with pytest.raises(CommandError) as exc:
        Clock(step_s=1.0).set_speed(bad)
    assert exc.value.status == "BadOutOfRange"


def test_bad_commands_name_the_problem():
    c = Clock(step_s=1.0, sim_s=100.0)
    with pytest.raises(CommandError, match="already 100"):
        c.run_until(50.0)
    with pytest.raises(CommandError, match="whole number"):
        c.step(0)
    with pytest.raises(CommandError, match="clock mode"):
        c.resume("warp")


def test_trajectory_depends_on_steps_not_on_wall_pacing(tmp_path):
    """Two plants driven at different wall paces reach bit-identical states."""
    from twin.config import load_satellite

    cfg = load_satellite().config
    a, b = Plant(cfg), Plant(cfg)
    ca = Clock(step_s=1.0, mode="realtime", speed=100.0, max_batch=7)
    cb = Clock(step_s=1.0, mode="fast", max_batch=200)
    for w in range(60):
        n = ca.due(w * 0.37)
        a.run(n)
        ca.advanced(n, a.t_s)
    target = a.t_s
    while b.t_s < target:
        n = min(cb.due(0.0), round(target - b.t_s))
        b.run(n)
        cb.advanced(n, b.t_s)
    assert a.t_s == b.t_s > 0
    assert a.state.equals(b.state)

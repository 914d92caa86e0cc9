"""HilSync against pollers whose link state the test sets: quality, values, residuals, and the
hil.* channels of a twin built with its boards."""

from __future__ import annotations

import asyncio
import logging
import math
import time

import pytest
from hilkit import BOARDS, CAT, boards_twin, new_twin, until

from hil.boardfile import Decoded, Flag, parse_board
from hil.modbus import LinkError
from hil.poller import BoardPoller
from hil.sync import HilSync
from twin.catalogue import SCENARIO_STATES
from twin.runtime import (
    BAD_NO_COMMUNICATION,
    BAD_SENSOR_FAILURE,
    BAD_WAITING_FOR_INITIAL_DATA,
    GOOD,
    UNCERTAIN_LAST_USABLE,
    UNCERTAIN_SUBSTITUTE,
)

PATH = "thermal.radiator.1.temp_c"


@pytest.fixture
def setup():
    twin = new_twin()
    p = BoardPoller(BOARDS["thermal"], period_s=0.2)
    sync = HilSync(twin, [p])
    return twin, p, sync


def status(twin, path):
    return int(twin.mirror.status[twin.catalogue[path].index])


def test_a_good_board_value_replaces_the_model_and_gives_a_residual(setup):
    twin, p, sync = setup
    model = twin.mirror.value(PATH)
    p.values[PATH] = Decoded(model + 1.25, 0)
    p.sample_s = 42.5
    p.last_ok = time.monotonic()
    twin.refresh()
    assert twin.mirror.value(PATH) == model + 1.25
    assert status(twin, PATH) == GOOD
    assert twin.mirror.source_s[twin.catalogue[PATH].index] == 42.5
    assert sync.residuals[PATH] == pytest.approx(1.25)


def test_channels_no_board_measures_are_estimated(setup):
    twin, _, _ = setup
    twin.refresh()
    assert status(twin, "power.battery.1.soc_pct") == UNCERTAIN_SUBSTITUTE
    assert status(twin, "sim.time_s") == GOOD  # the twin's own time is no estimate
    assert twin.mirror.value("power.battery.1.soc_pct") == pytest.approx(
        float(twin.catalogue.sample(twin.plant)[twin.catalogue["power.battery.1.soc_pct"].index]))


def test_a_failed_poll_is_stale_then_bad_after_two_periods(setup):
    twin, p, sync = setup
    p.values[PATH] = Decoded(20.0, 2000)
    now = time.monotonic()
    p.last_ok = now
    p.failing = LinkError("timeout", "x")
    sync.apply(now + 0.1)
    assert status(twin, PATH) == UNCERTAIN_LAST_USABLE
    assert twin.mirror.value(PATH) == 20.0  # the last usable value stays
    assert PATH not in sync.residuals
    sync.apply(now + 0.45)
    assert status(twin, PATH) == BAD_NO_COMMUNICATION


def test_a_reading_out_of_the_sensor_range_is_a_sensor_failure(setup):
    twin, p, _ = setup
    p.values[PATH] = Decoded(999.0, 99900, Flag.OUT_OF_RANGE)
    p.last_ok = time.monotonic()
    twin.refresh()
    assert status(twin, PATH) == BAD_SENSOR_FAILURE


def test_a_board_never_heard_is_bad(setup):
    twin, _, _ = setup
    twin.refresh()
    assert status(twin, PATH) == BAD_NO_COMMUNICATION


def test_listeners_subscribed_earlier_see_the_synced_mirror():
    twin = new_twin()
    seen = []
    twin.on_frame(lambda t: seen.append(status(t, PATH)))  # e.g. a recorder attached first
    p = BoardPoller(BOARDS["thermal"], period_s=0.2)
    HilSync(twin, [p])
    p.values[PATH] = Decoded(20.0, 2000)
    p.last_ok = time.monotonic()
    twin.refresh()
    assert seen == [GOOD] and status(twin, "power.array.1.power_w") == UNCERTAIN_SUBSTITUTE


# --- the hil.* channels of a twin built with its boards ---------------------------------------
RESIDUAL = f"hil.residual.{PATH}"


@pytest.fixture
def hil_setup():
    twin = boards_twin()
    p = BoardPoller(BOARDS["thermal"], period_s=0.2)
    sync = HilSync(twin, [p])
    return twin, p, sync


def value(twin, path):
    return twin.mirror.value(path)


def test_link_channels_show_the_pollers_counters_and_median_latency(hil_setup):
    twin, p, sync = hil_setup
    for ms in (3.0, 5.0, 4.0):
        p.stats.success(ms / 1000)
    p.stats.failure("timeout")
    p.stats.failure("garbage")
    p.stats.failure("exception")
    p.stats.failure("link_down")
    p.last_ok = time.monotonic()
    sync.apply()
    got = {q: value(twin, f"hil.thermal.{q}") for q in
           ("online", "polls", "timeouts", "errors", "exceptions", "link_down", "latency_ms")}
    assert got == {"online": 1.0, "polls": 7, "timeouts": 1, "errors": 1, "exceptions": 1,
                   "link_down": 1, "latency_ms": pytest.approx(4.0)}
    assert all(status(twin, f"hil.thermal.{q}") == GOOD for q in got)
    assert status(twin, "hil.power.online") == BAD_WAITING_FOR_INITIAL_DATA  # not polled here


def test_a_board_not_heard_since_start_is_waiting_then_offline_with_a_link_alarm(hil_setup):
    twin, p, sync = hil_setup
    p.started = now = time.monotonic()
    sync.apply(now + 0.1)
    assert status(twin, "hil.thermal.online") == BAD_WAITING_FOR_INITIAL_DATA
    assert status(twin, "hil.thermal.latency_ms") == BAD_WAITING_FOR_INITIAL_DATA  # none timed
    assert status(twin, "hil.thermal.polls") == GOOD and value(twin, "hil.thermal.polls") == 0
    assert "hil.thermal.online" not in [a.path for a in twin.alarms.evaluate()]
    sync.apply(now + p.offline_after_s + 0.01)  # not asked yet (a busy start): still waiting
    assert status(twin, "hil.thermal.online") == BAD_WAITING_FOR_INITIAL_DATA
    p.failing = LinkError("timeout", "x")  # the first poll failed
    sync.apply(now + p.offline_after_s + 0.01)
    assert value(twin, "hil.thermal.online") == 0.0
    assert status(twin, "hil.thermal.online") == GOOD
    [alarm] = [a for a in twin.alarms.evaluate() if a.path == "hil.thermal.online"]
    assert (alarm.state, alarm.severity) == ("red-low", 800)


def test_a_residual_channel_is_measured_minus_the_model_at_the_boards_sample_time(hil_setup):
    twin, p, sync = hil_setup
    i = twin.catalogue[PATH].index
    t0, model0 = twin.plant.t_s, sync.model[i]
    for _ in range(2):  # two frames 300 s apart: the panel moves on
        twin.commands.call("Step", {"n": 300})
        twin.tick(0.0)
    model1, model2 = sync.history[-2][1][i], sync.model[i]
    assert abs(model1 - model0) > 0.5 and abs(model2 - model1) > 0.5
    p.last_ok = time.monotonic()
    p.sample_times[PATH] = t0  # the board's sample is from before the steps
    low = min(model0, model1)
    p.values[PATH] = Decoded(low - 0.1, 0)
    sync.apply()
    assert value(twin, RESIDUAL) == pytest.approx(-0.1)
    assert status(twin, RESIDUAL) == GOOD
    assert twin.mirror.source_s[twin.catalogue[RESIDUAL].index] == t0
    # read over several requests, a value may be a sample newer than its time stamp: between
    # the frame at the sample time and the next one, it agrees with the model
    p.values[PATH] = Decoded((model0 + model1) / 2, 0)
    sync.apply()
    assert value(twin, RESIDUAL) == 0.0
    p.sample_times[PATH] = math.nan  # no sample time: the latest frame
    sync.apply()
    assert value(twin, RESIDUAL) == pytest.approx((model0 + model1) / 2 - model2)


def test_a_residual_beyond_its_limits_raises_a_residual_alarm(hil_setup):
    twin, p, sync = hil_setup
    ch = twin.catalogue[RESIDUAL]
    model = sync.model[twin.catalogue[PATH].index]
    p.last_ok = time.monotonic()
    for reading, state in ((model + 1.5 * ch.yellow[1], "yellow-high"),
                           (model - 1.5 * ch.red[1], "red-low"), (model, "ok")):
        p.values[PATH] = Decoded(reading, 0)
        twin.refresh()
        assert twin.alarms.alarms[RESIDUAL].state == state
    events = [e.data["state"] for e in twin.events if e.data.get("path") == RESIDUAL]
    assert events == ["yellow-high", "red-low", "ok"]


def test_a_residual_is_bad_when_the_board_or_the_reading_is_not_good(hil_setup):
    twin, p, sync = hil_setup
    now = time.monotonic()
    p.values[PATH] = Decoded(999.0, 99900, Flag.OUT_OF_RANGE)
    p.last_ok = now
    sync.apply(now)
    assert math.isnan(value(twin, RESIDUAL))
    assert status(twin, RESIDUAL) == BAD_SENSOR_FAILURE
    p.values[PATH] = Decoded(20.0, 2000)
    p.failing = LinkError("timeout", "x")
    sync.apply(now + 0.1)  # stale
    assert math.isnan(value(twin, RESIDUAL))
    assert status(twin, RESIDUAL) == BAD_NO_COMMUNICATION
    assert status(twin, PATH) == UNCERTAIN_LAST_USABLE


def test_a_twin_built_without_boards_has_no_hil_channels_and_the_sync_says_so(caplog):
    twin = new_twin()
    with caplog.at_level(logging.WARNING, logger="hil.sync"):
        sync = HilSync(twin, [BoardPoller(BOARDS["thermal"], period_s=0.2)])
    assert "Twin(config, boards=...)" in caplog.text
    assert not any(c.path.startswith("hil.") for c in twin.catalogue.channels)
    assert sync.links == [] and sync.residual_index == {}
    sync.apply()  # still syncs the measured channels
    assert status(twin, PATH) == BAD_NO_COMMUNICATION


def small_board(name, scale):
    return parse_board(f"""
[board]
name = "{name}"
protocol = "modbus_tcp"
firmware_version = "1.0"
[[input_registers]]
address = 0
path = "{PATH}"
type = "int16"
scale = {scale}
""", CAT, f"<{name}>")


def test_where_two_boards_measure_a_channel_the_better_link_then_the_finer_encoding_wins():
    twin = new_twin()
    coarse = BoardPoller(small_board("coarse", 0.1), period_s=0.2)
    fine = BoardPoller(small_board("fine", 0.01), period_s=0.2)
    sync = HilSync(twin, [coarse, fine])  # the coarse board given first
    coarse.values[PATH], fine.values[PATH] = Decoded(20.1, 201), Decoded(20.07, 2007)
    now = time.monotonic()
    coarse.last_ok = fine.last_ok = now
    sync.apply(now)
    assert twin.mirror.value(PATH) == 20.07  # equal links: the finer encoding
    fine.failing = LinkError("timeout", "x")
    sync.apply(now + 0.1)
    assert twin.mirror.value(PATH) == 20.1  # the better link first
    assert status(twin, PATH) == GOOD


def test_next_change_is_when_the_link_state_moves_by_the_clock_alone(setup):
    _, p, sync = setup
    assert p.next_change(0.0) == math.inf  # not started, never heard
    p.started = 100.0
    assert p.next_change(100.0) == math.inf  # waiting for the first poll to end
    p.failing = LinkError("timeout", "x")
    assert p.next_change(100.0) == pytest.approx(100.4)  # the start-up wait ends
    p.failing = None
    p.last_ok = 101.0
    assert p.next_change(101.0) == pytest.approx(101.3)  # stale after 1.5 periods
    assert p.next_change(101.35) == pytest.approx(101.4)  # offline after two
    assert p.next_change(101.5) == math.inf
    assert sync.next_change(101.0) == pytest.approx(101.3, abs=1e-3)


async def test_the_sync_re_applies_at_a_pollers_offline_deadline_not_a_period_later(setup):
    twin, p, sync = setup
    p.values[PATH] = Decoded(20.0, 2000)
    p.started = p.last_ok = time.monotonic()
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(sync.run(stop, period_s=30.0))
    try:
        # no frames and a 30 s period: only the deadlines can wake it
        t0 = time.monotonic()
        bad_at = t0 + await until(lambda: status(twin, PATH) == BAD_NO_COMMUNICATION, 2.0,
                                  every=0.002)
    finally:
        stop.set()
        await task
    offline_at = p.last_ok + p.offline_after_s
    assert offline_at <= bad_at <= offline_at + 0.03  # at the deadline, scheduling aside


async def test_the_sync_re_applies_at_once_when_a_poller_fails(setup):
    twin, p, sync = setup
    p.values[PATH] = Decoded(20.0, 2000)
    p.started = p.last_ok = time.monotonic()
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(sync.run(stop, period_s=30.0))
    try:
        await until(lambda: p.link_listeners, 1.0)  # the sync is listening
        p._fail(LinkError("timeout", "board thermal: test"))  # what a failed poll does
        took = await until(lambda: status(twin, PATH) == UNCERTAIN_LAST_USABLE, 1.0,
                           every=0.002)
    finally:
        stop.set()
        await task
    assert took < 0.1  # not the 0.3 s stale deadline, nor the 30 s period


def test_a_scenario_state_shown_between_frames_survives_the_syncs_re_apply(setup):
    twin, _, sync = setup
    state = twin.catalogue["sim.scenario.state"].index
    assert twin.commands.call("LoadScenario", {"name": "gpu-runaway-rack-trip"}).ok
    assert twin.mirror.values[state] == SCENARIO_STATES.index("loaded")  # no frame since
    sync.apply()
    assert twin.mirror.values[state] == SCENARIO_STATES.index("loaded")
    assert status(twin, "sim.scenario.state") == GOOD


async def test_deadline_wakes_never_starve_the_periodic_re_apply_of_a_paused_twin(setup):
    """Polls that keep moving the link deadlines (every poll start does) must not put off the
    re-apply that brings the boards' values to a paused twin's mirror every period."""
    _, p, sync = setup
    p.values[PATH] = Decoded(20.0, 2000)
    p.started = p.last_ok = time.monotonic()
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(sync.run(stop, period_s=0.1))

    async def polls() -> None:  # a poll start every 30 ms, as three fast boards would make
        while not stop.is_set():
            p.last_ok = time.monotonic()
            for fn in list(p.deadline_listeners):
                fn()
            await asyncio.sleep(0.03)

    poller = asyncio.get_running_loop().create_task(polls())
    try:
        await until(lambda: p.deadline_listeners, 1.0)  # the sync is listening
        n0 = sync.applied
        await until(lambda: sync.applied >= n0 + 5, 1.0)  # ~5 periods: not starved
    finally:
        stop.set()
        await asyncio.gather(task, poller)

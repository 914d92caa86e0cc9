"""HilSync against pollers whose link state the test sets: quality, values, residuals."""

from __future__ import annotations

import time

import pytest
from hilkit import BOARDS, new_twin

from hil.boardfile import Decoded, Flag
from hil.modbus import LinkError
from hil.poller import BoardPoller
from hil.sync import HilSync
from twin.runtime import (
    BAD_NO_COMMUNICATION,
    BAD_SENSOR_FAILURE,
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

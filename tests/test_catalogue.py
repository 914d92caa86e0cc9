"""The channel catalogue: one entry per signal, generated from the config, frames in its order."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from twin.catalogue import BoardChannels, build_catalogue
from twin.config import load_satellite
from twin.errors import TwinError
from twin.model.plant import Plant


@pytest.fixture(scope="module")
def cfg():
    return load_satellite().config


@pytest.fixture(scope="module")
def catalogue(cfg):
    return build_catalogue(cfg)


def test_paths_follow_the_design_convention_and_are_unique(catalogue):
    paths = [c.path for c in catalogue.channels]
    assert len(paths) == len(set(paths))
    for example in ("power.battery.1.soc_pct", "thermal.radiator.3.temp_c",
                    "compute.rack.2.gpu.5.power_w", "compute.rack.16.gpu.8.temp_c",
                    "thermal.pump.2.speed_pct", "power.bus.voltage_v", "compute.pflops"):
        assert example in catalogue
    assert "compute.rack.17.gpu.1.temp_c" not in catalogue
    assert "compute.rack.1.gpu.9.temp_c" not in catalogue


def test_every_component_of_the_config_has_its_channels(cfg, catalogue):
    c = cfg.compute
    gpus = catalogue.select(["compute.rack.*.gpu.*.temp_c"])
    assert len(gpus) == c.racks * c.gpus_per_rack
    assert len(catalogue.select(["power.battery.*.soc_pct"])) == cfg.battery.strings
    assert len(catalogue.select(["thermal.radiator.*.temp_c"])) == cfg.thermal.radiator.panels
    assert len(catalogue.select(["power.array.*.power_w"])) == cfg.solar_array.wings


def test_catalogue_grows_with_the_config(cfg, catalogue):
    bigger = dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, racks=18))
    cat = build_catalogue(bigger)
    per_rack = len(catalogue.select(["compute.rack.1.*"])) + len(
        catalogue.select(["power.pcdu.rack.1.*"]))
    assert len(cat) == len(catalogue) + 2 * per_rack


def test_units_ranges_and_limits_are_consistent(catalogue):
    for ch in catalogue.channels:
        assert ch.lo < ch.hi, ch.path
        for lo, hi in (ch.yellow, ch.red):
            if lo is not None and hi is not None:
                assert lo < hi, ch.path
        if ch.path.endswith("_c"):
            assert ch.unit == "°C"
        if ch.path.endswith("_pct"):
            assert ch.unit == "%"
        if ch.path.endswith("_w") and "power" in ch.path.split(".")[-1]:
            assert ch.unit == "W"
        if ch.dtype == "enum":
            assert ch.enum and ch.hi == len(ch.enum) - 1
        # a red limit is never inside the yellow band it should enclose
        if ch.red[1] is not None and ch.yellow[1] is not None:
            assert ch.red[1] >= ch.yellow[1], ch.path


def test_gpu_limits_come_from_the_config_thresholds(cfg, catalogue):
    ch = catalogue["compute.rack.1.gpu.1.temp_c"]
    assert ch.red == (None, cfg.compute.slowdown_temp_c)
    assert ch.limit_state(cfg.compute.slowdown_temp_c + 1) == "red"
    assert ch.limit_state(cfg.compute.slowdown_temp_c - 2) == "yellow"
    assert ch.limit_state(40.0) == "ok"
    soc = catalogue["power.battery.soc_pct"]
    assert soc.limit_state(cfg.bus.shed_soc_pct - 1) == "red"


def test_writable_channels_are_the_commands(catalogue):
    writable = {c.path.split(".")[0] + "." + c.path.split(".")[-1]
                for c in catalogue.channels if c.writable}
    assert writable == {"compute.enabled", "compute.power_cap_w", "thermal.speed_pct",
                        "thermal.deploy_cmd", "power.heater_mode", "power.shed_level_cmd"}
    assert all(c.source == "command" for c in catalogue.channels if c.writable)


def test_select_by_glob_and_by_word(catalogue):
    assert [c.path for c in catalogue.select(["power.bus.*"])] == [
        "power.bus.voltage_v", "power.bus.current_a", "power.bus.load_w", "power.bus.shunt_w",
        "power.bus.undervoltage"]
    assert all("soc" in c.path for c in catalogue.select(["soc"]))
    assert catalogue.select(["no-such-thing"]) == []


def test_frame_has_every_channel_in_display_units(cfg, catalogue):
    plant = Plant(cfg)
    plant.run(120)
    frame = catalogue.sample(plant)
    assert frame.shape == (len(catalogue),)
    assert np.all(np.isfinite(frame))
    s = plant.state
    assert frame[catalogue["sim.time_s"].index] == pytest.approx(120.0)
    die_c = s.die_k[8 * 1 + 4] - 273.15  # rack 2, GPU 5
    assert frame[catalogue["compute.rack.2.gpu.5.temp_c"].index] == pytest.approx(die_c)
    assert frame[catalogue["power.battery.3.soc_pct"].index] == pytest.approx(100 * s.soc[2])
    assert frame[catalogue["orbit.beta_deg"].index] == pytest.approx(
        math.degrees(plant.beta_rad))
    for ch in catalogue.channels:  # every value inside its declared range
        v = frame[ch.index]
        assert ch.lo <= v <= ch.hi, (ch.path, v)


# --- hardware-in-loop channels: only in a twin built with boards -----------------------------
LAB = BoardChannels("lab", "a bench board", 0.2, (("thermal.radiator.1.temp_c", 0.3, 0.6),
                                                  ("power.bus.voltage_v", 0.1, 0.2)))


def test_without_boards_there_are_no_hil_channels(catalogue):
    assert not catalogue.select(["hil.*"])


def test_boards_add_link_channels_then_residuals_after_the_plants_channels(cfg, catalogue):
    cat = build_catalogue(cfg, boards=[LAB])
    hil = [c.path for c in cat.channels[len(catalogue):]]
    assert hil == [f"hil.lab.{q}" for q in ("online", "polls", "timeouts", "errors",
                                            "exceptions", "link_down", "latency_ms")] + [
        "hil.residual.power.bus.voltage_v", "hil.residual.thermal.radiator.1.temp_c"]
    assert [c.path for c in cat.channels[:len(catalogue)]] == [c.path for c in
                                                               catalogue.channels]
    assert [c.index for c in cat.channels] == list(range(len(cat)))
    online, latency = cat["hil.lab.online"], cat["hil.lab.latency_ms"]
    assert (online.dtype, online.red, online.yellow) == ("bool", (0.5, None), (None, None))
    assert online.limit_state(0.0) == "red" and online.limit_state(1.0) == "ok"
    assert cat["hil.lab.polls"].dtype == "int" and cat["hil.lab.polls"].red == (None, None)
    assert (latency.unit, latency.yellow) == ("ms", (None, 100.0))  # half the 0.2 s timeout
    res = cat["hil.residual.thermal.radiator.1.temp_c"]
    base = catalogue["thermal.radiator.1.temp_c"]
    assert (res.unit, res.dtype, res.source) == ("°C", "float", "derived")
    assert (res.yellow, res.red) == ((-0.3, 0.3), (-0.6, 0.6))
    assert (res.lo, res.hi) == (base.lo - base.hi, base.hi - base.lo)


def test_where_two_boards_measure_a_channel_the_looser_limits_apply(cfg):
    other = BoardChannels("other", "", 0.5, (("power.bus.voltage_v", 0.4, 0.5),))
    cat = build_catalogue(cfg, boards=[LAB, other])
    assert cat["hil.residual.power.bus.voltage_v"].red == (-0.5, 0.5)
    assert cat["hil.residual.power.bus.voltage_v"].yellow == (-0.4, 0.4)
    assert len(cat.select(["hil.residual.*"])) == 2


@pytest.mark.parametrize(("boards", "message"), [
    ([LAB, LAB], "given twice"),
    ([BoardChannels("residual", "", 0.2)], "reserved"),
    ([BoardChannels("x", "", 0.2, (("power.bus.undervoltage", 1.0, 2.0),))], "not a float"),
    ([BoardChannels("x", "", 0.2, (("power.bus.no_such_v", 1.0, 2.0),))], "not a float"),
])
def test_a_board_named_twice_or_a_residual_of_no_float_channel_is_refused(cfg, boards,
                                                                          message):
    with pytest.raises(TwinError, match=message):
        build_catalogue(cfg, boards=boards)


def test_a_plant_frame_of_a_board_catalogue_leaves_the_hil_channels_empty(cfg, catalogue):
    cat = catalogue.with_boards([LAB])
    plant = Plant(cfg)
    plant.run(10)
    frame, plain = cat.sample(plant), catalogue.sample(plant)
    assert frame.shape == (len(cat),)
    assert np.array_equal(frame[:len(catalogue)], plain)
    assert np.all(np.isnan(frame[len(catalogue):]))

"""The channel catalogue: one entry per signal, generated from the config, frames in its order."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from twin.catalogue import build_catalogue
from twin.config import load_satellite
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

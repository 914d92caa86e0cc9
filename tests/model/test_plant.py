"""Plant-level contracts (docs DESIGN.md, "Plant model"): determinism, checkpoints, stability from
0.1 s to 10 s steps, closed energy books, protections, load shedding and every plant fault.

Expected numbers come from closed-form relations named in each test, evaluated by hand from the
configuration (configs/satellite.toml); tolerances are explicit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from _satellites import default_config, quiet_config

from twin.checkpoints import load_checkpoint, save_checkpoint
from twin.config import SatelliteConfig
from twin.errors import CheckpointError, CommandError
from twin.model import faults, orbit
from twin.model.params import C_TO_K
from twin.model.plant import Plant, step
from twin.model.step import internal_energy_j, stored_energy_j

# Numbers of the default satellite used by hand below (configs/satellite.toml).
N_RACKS, GPUS_PER_RACK, N_STRINGS, CELLS_SERIES = 16, 8, 4, 28
GPU_IDLE_W, GPU_TDP_W, UTIL, CLOCK_EXP = 90.0, 700.0, 0.85, 2.5
GPU_BUSY_W = GPU_IDLE_W + (GPU_TDP_W - GPU_IDLE_W) * UTIL  # 608.5 W at full clock
RACK_BUSY_W = GPUS_PER_RACK * GPU_BUSY_W + 800.0  # 5668 W
LCL_TRIP_W = 64.0 * 120.0  # 7680 W: the rack limiter at the nominal bus voltage
SLOWDOWN_K, SHUTDOWN_K = 87.0 + C_TO_K, 92.0 + C_TO_K
F_MIN = 600.0 / 1980.0
FLOW_KG_S, INVENTORY_KG = 2.5, 150.0
STRING_CAPACITY_AS = 6 * 50.0 * 3600.0
V_CUTOFF_CELL = 4.10


@cache
def two_rack_config() -> SatelliteConfig:
    cfg = default_config()
    return dataclasses.replace(cfg, compute=dataclasses.replace(cfg.compute, racks=2))


@cache
def first_eclipse() -> tuple[float, float]:
    """Entry and exit (s after epoch) of the default orbit's first eclipse."""
    orb = Plant(default_config()).params.orbit
    t_in = orbit.next_transition(orb, 0.0, True)
    assert t_in is not None
    t_out = orbit.next_transition(orb, t_in, False)
    assert t_out is not None
    return t_in, t_out


def ocv_integral_v(soc_a: float, soc_b: float) -> float:
    """∫_a^b OCV dsoc of one cell (V), trapezoids split at the table's breakpoints: exact for the
    piecewise-linear OCV table of configs/satellite.toml."""
    cfg = default_config().battery
    knots = [x for x in cfg.ocv_soc if soc_a < x < soc_b]
    xs = np.array([soc_a, *knots, soc_b])
    vs = np.interp(xs, cfg.ocv_soc, cfg.ocv_v)
    return float(np.sum(np.diff(xs) * (vs[1:] + vs[:-1]) / 2.0))


def command_script(plant: Plant) -> None:
    """A short operator session: faults, commands and mixed step sizes."""
    plant.run(120, 1.0)
    plant.inject_fault("gpu_runaway", "compute.rack.3.gpu.2", {"extra_w": 300.0})
    plant.inject_fault("pump_degraded", "thermal.pump.2", {"health": 0.7}, start_s=200.0,
                       duration_s=100.0)
    plant.inputs.rack_cap_w[5] = 4000.0
    plant.run(100, 0.5)
    plant.inputs.rack_enabled[7] = False
    plant.inputs.pump_speed[0] = 0.8
    plant.run(30, 10.0)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_and_commands_give_bit_identical_states() -> None:
    """DESIGN.md: the same config, seed and command log give the same trajectory, bit for bit."""
    a, b = Plant(default_config(), seed=42), Plant(default_config(), seed=42)
    command_script(a)
    command_script(b)
    assert a.t_s == pytest.approx(470.0)
    assert a.state.equals(b.state)


def test_different_seed_gives_a_different_trajectory() -> None:
    """The seed drives the GPU utilisation noise: another seed, other die temperatures."""
    a, b = Plant(default_config(), seed=42), Plant(default_config(), seed=43)
    command_script(a)
    command_script(b)
    assert not a.state.equals(b.state)
    assert not np.array_equal(a.state.die_k, b.state.die_k)


def test_pure_step_function_leaves_its_input_alone_and_matches_the_plant() -> None:
    """``step(params, state, inputs, dt)`` returns a new state; the input state is unchanged and
    the result equals what ``Plant.step`` does from the same state."""
    plant = Plant(default_config(), seed=5)
    plant.run(50, 1.0)
    before = plant.state.copy()
    new = step(plant.params, plant.state, plant.inputs, 1.0)
    assert plant.state.equals(before)
    plant.step(1.0)
    assert new.equals(plant.state)
    assert not new.equals(before)


# --- checkpoints ----------------------------------------------------------------------------


def _checkpoint_scenario(seed: int = 3) -> Plant:
    plant = Plant(default_config(), seed=seed)
    # A fault still pending at the checkpoint, and one that ends after it.
    plant.inject_fault("coolant_leak", "thermal.loop.2", {"rate_kg_s": 0.05}, start_s=1100.0,
                       duration_s=120.0)
    plant.inject_fault("battery_heater_stuck_on", "power.battery.3", start_s=500.0,
                       duration_s=700.0)
    plant.inputs.rack_enabled[4] = False
    plant.run(1000, 1.0)  # the checkpoint is taken 24 steps before the environment cache's
    return plant  # chunk boundary (1024 steps), so the continuation crosses it


def test_checkpoint_restore_continue_equals_uninterrupted_run() -> None:
    """DESIGN.md: a state can be saved and restored at any tick; the continuation is bitwise the
    uninterrupted run, including pending faults and standing commands."""
    plant = _checkpoint_scenario()
    cp = plant.checkpoint()
    plant.run(300, 1.0)
    reference = plant.state.copy()
    assert reference.inventory_kg[1] < INVENTORY_KG  # the pending leak did fire

    plant.inputs.pump_speed[:] = 0.3  # a different future, to be undone by the restore
    plant.run(10, 1.0)
    plant.restore(cp)
    assert not plant.inputs.rack_enabled[4]
    plant.run(300, 1.0)
    assert plant.state.equals(reference)


def test_save_and_load_through_a_file_equals_uninterrupted_run(tmp_path: Path) -> None:
    plant = _checkpoint_scenario()
    path = tmp_path / "at-1000s.ckpt"
    save_checkpoint(plant, path)
    plant.run(300, 1.0)
    reference = plant.state.copy()

    fresh = Plant(default_config(), seed=99)  # another seed: the file carries the generator
    fresh.restore(load_checkpoint(path))
    assert fresh.t_s == 1000.0
    fresh.run(300, 1.0)
    assert fresh.state.equals(reference)


def test_fork_continues_identically_and_independently() -> None:
    plant = _checkpoint_scenario()
    twin_a, twin_b = plant.fork(), plant.fork()
    plant.run(300, 1.0)
    twin_a.run(300, 1.0)
    assert twin_a.state.equals(plant.state)

    twin_b.inject_fault("pump_failure", "thermal.pump.1")  # a what-if branch
    twin_b.run(300, 1.0)
    assert twin_b.state.loop_flow_kg_s[0] == 0.0
    assert plant.state.loop_flow_kg_s[0] == FLOW_KG_S
    assert twin_a.state.equals(plant.state)
    assert len(plant.faults) == 2


def test_checkpoint_of_another_satellite_or_a_bad_file_is_refused(tmp_path: Path) -> None:
    small = Plant(two_rack_config())
    with pytest.raises(CheckpointError, match="different parameters"):
        Plant(default_config()).restore(small.checkpoint())
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)


# --- stability across step sizes --------------------------------------------------------------


def _trajectory(dt: float, total_s: float, every_s: float) -> list[dict[str, Any]]:
    plant = Plant(quiet_config())
    n = round(every_s / dt)
    out = []
    for _ in range(round(total_s / every_s)):
        plant.run(n, dt)
        s = plant.state
        out.append({"t": plant.t_s, "soc": s.soc.copy(), "loop_k": s.loop_k.copy(),
                    "die_max_k": float(s.die_k.max()), "panel_k": s.panel_k.copy(),
                    "batt_k": s.batt_temp_k.copy(), "av_k": s.av_k,
                    "wing_k": s.wing_temp_k.copy()})
    return out


# Tolerances between step sizes, for trajectories sampled on a common time grid:
# SOC 0.2 %-points (eclipse entry is resolved to one step: 10 s at ~93 kW is 0.07 %-points),
# loop and panel 0.5 K, hottest die 1 K, battery 0.1 K, avionics 0.5 K, and wings 5 K (a wing's
# τ ≈ C/(4εσAT³) ≈ 100 s, so a 10 s shift of the eclipse edge moves it by a few K).
STEP_TOLERANCES = {"soc": 0.002, "loop_k": 0.5, "panel_k": 0.5, "die_max_k": 1.0,
                   "batt_k": 0.1, "av_k": 0.5, "wing_k": 5.0}


def _assert_trajectories_agree(coarse: list[dict[str, Any]], fine: list[dict[str, Any]]) -> None:
    worst = dict.fromkeys(STEP_TOLERANCES, 0.0)
    for a, b in zip(coarse, fine, strict=True):
        assert a["t"] == b["t"]
        for key, tol in STEP_TOLERANCES.items():
            diff = float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key]))))
            worst[key] = max(worst[key], diff)
            assert diff <= tol, f"{key} differs by {diff:.4g} at t = {a['t']:.0f} s (tol {tol})"
    print("worst differences:", {k: round(v, 4) for k, v in worst.items()})


def test_two_hours_with_an_eclipse_at_10_s_steps_agree_with_1_s_steps() -> None:
    t_in, t_out = first_eclipse()
    assert 600.0 < t_in < 1800.0 and t_out < 7200.0  # the window holds a whole eclipse
    _assert_trajectories_agree(_trajectory(10.0, 7200.0, 300.0), _trajectory(1.0, 7200.0, 300.0))


def test_twenty_minutes_into_eclipse_at_10_s_steps_agree_with_0_1_s_steps() -> None:
    t_in, _ = first_eclipse()
    assert t_in < 1200.0  # the window covers the eclipse entry
    _assert_trajectories_agree(_trajectory(10.0, 1200.0, 60.0), _trajectory(0.1, 1200.0, 60.0))


# --- energy books ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[1.0, 10.0], ids=["dt1s", "dt10s"])
def booked_run(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Two hours from epoch (one whole eclipse) with faults that move energy in and out of the
    books: a shorted-cell string (stored energy lost, leakage), a capacity fade (charge lost), a
    coolant leak (heat leaves with the fluid) and a runaway GPU that trips its rack."""
    dt = request.param
    plant = Plant(default_config())
    plant.inject_fault("battery_cell_short", "power.battery.2", {"cells": 2, "leak_a": 5.0},
                       start_s=600.0)
    plant.inject_fault("coolant_leak", "thermal.loop.1", {"rate_kg_s": 0.02}, start_s=300.0,
                       duration_s=1800.0)
    plant.inject_fault("battery_capacity_fade", "power.battery.3", {"fraction": 0.2},
                       start_s=1500.0)
    plant.inject_fault("gpu_runaway", "compute.rack.4.gpu.2", {"extra_w": 3000.0}, start_s=1000.0)
    p = plant.params
    rows, dark = [], False
    for _ in range(8):
        for _ in range(round(900.0 / dt)):
            plant.step(dt)
            dark = dark or plant.illumination == 0.0
        s = plant.state
        rows.append({
            "t": plant.t_s, "generated": s.e_generated_j, "loads": s.e_loads_j,
            "losses": s.e_losses_j, "fault": s.e_fault_j,
            "d_stored": stored_energy_j(p, s) - s.e_stored0_j,
            "dissipated": s.q_dissipated_j, "absorbed": s.q_absorbed_j,
            "radiated": s.q_radiated_j, "leaked": s.q_leaked_j,
            "d_internal": internal_energy_j(p, s) - s.u0_j,
        })
    return {"rows": rows, "dark": dark, "state": plant.state}


def test_scenario_for_the_books_has_an_eclipse_and_its_faults(booked_run: dict[str, Any]) -> None:
    s = booked_run["state"]
    assert booked_run["dark"]
    assert s.lcl_tripped[3]  # 8 × ~608 W + 800 W + 3 kW > 7680 W
    assert s.inventory_kg[0] == pytest.approx(INVENTORY_KG - 0.02 * 1800.0, rel=1e-9)
    last = booked_run["rows"][-1]
    assert last["fault"] > 0.0 and last["leaked"] > 0.0


def test_electrical_books_close_within_0_1_percent(booked_run: dict[str, Any]) -> None:
    """DESIGN.md: generated = loads + losses + Δstored + fault losses, to 0.1 % of generated, at
    every 15 min of the run (not only at its end, where errors could cancel)."""
    for r in booked_run["rows"]:
        residual = r["generated"] - r["loads"] - r["losses"] - r["d_stored"] - r["fault"]
        print(f"t={r['t']:6.0f} s electrical residual {100 * residual / r['generated']:+.5f} %")
        assert abs(residual) <= 1e-3 * r["generated"], f"at t = {r['t']:.0f} s"


def test_heat_books_close_within_0_1_percent(booked_run: dict[str, Any]) -> None:
    """DESIGN.md: dissipated + absorbed = radiated + leaked + ΔU, to 0.1 % of the heat in."""
    for r in booked_run["rows"]:
        heat_in = r["dissipated"] + r["absorbed"]
        residual = heat_in - r["radiated"] - r["leaked"] - r["d_internal"]
        assert abs(residual) <= 1e-3 * heat_in, f"at t = {r['t']:.0f} s"


# --- thermal protection ---------------------------------------------------------------------


def _unthrottled_power_w(die_k: np.ndarray) -> np.ndarray:
    """P = P_idle + (P_TDP − P_idle)·u·f^k with f the linear thermal slowdown between 87 °C and
    92 °C (compute.py model; nvidia-smi slowdown/shutdown thresholds from the config)."""
    f = np.clip(1.0 - (die_k - SLOWDOWN_K) * (1.0 - F_MIN) / (SHUTDOWN_K - SLOWDOWN_K), F_MIN, 1.0)
    return GPU_IDLE_W + (GPU_TDP_W - GPU_IDLE_W) * UTIL * f**CLOCK_EXP


def _fail_both_pumps(cfg: SatelliteConfig) -> Plant:
    plant = Plant(cfg)
    plant.run(300, 1.0)
    plant.inject_fault("pump_failure", "thermal.pump.1")
    plant.inject_fault("pump_failure", "thermal.pump.2")
    return plant


def test_without_pumps_gpus_throttle_above_slowdown_and_latch_off_above_shutdown() -> None:
    """With no coolant flow the dies heat at ≈ P/(C_die + C_plate) ≈ 0.43 K/s. Every step, each
    GPU's power follows its die temperature at the start of the step: full power up to 87 °C,
    less above (clock falls linearly to f_min at 92 °C), and off, latched, once a die has
    reached 92 °C — never before. Tolerance 1e-9 W (same arithmetic)."""
    plant = _fail_both_pumps(quiet_config())
    throttled_steps = 0
    for _ in range(400):
        die_before = plant.state.die_k.copy()
        off_before = plant.state.gpu_shutdown.copy()
        plant.step(1.0)
        s = plant.state
        assert np.all(s.loop_flow_kg_s == 0.0)
        newly_off = s.gpu_shutdown & ~off_before
        assert np.all(die_before[newly_off] >= SHUTDOWN_K), "shut down below the shutdown temp"
        assert np.all(s.gpu_shutdown[die_before >= SHUTDOWN_K]), "kept running above shutdown"
        assert np.all(s.gpu_shutdown[off_before]), "a thermal shutdown must stay latched"
        expected = np.where(s.gpu_shutdown, 0.0, _unthrottled_power_w(die_before))
        np.testing.assert_allclose(s.gpu_power_w, expected, rtol=0.0, atol=1e-9)
        cool = ~s.gpu_shutdown & (die_before <= SLOWDOWN_K)
        assert np.all(s.gpu_power_w[cool] == pytest.approx(GPU_BUSY_W, abs=1e-9))
        throttled_steps += int(np.any(~s.gpu_shutdown & (s.gpu_power_w < GPU_BUSY_W - 1.0)))
    s = plant.state
    assert throttled_steps > 30  # 87 → 92 °C takes over a minute at reduced clocks
    assert s.gpu_shutdown.all()
    assert np.all(s.die_k < SHUTDOWN_K)  # cooled below the threshold, still latched off
    assert np.all(s.gpu_power_w == 0.0)
    assert np.all(s.rack_power_w == pytest.approx(800.0))  # hosts and switches stay on

    plant.inputs.rack_enabled[0] = False  # power-cycling a rack clears its GPUs' latch
    plant.step(1.0)
    plant.inputs.rack_enabled[0] = True
    plant.step(1.0)
    assert not plant.state.gpu_shutdown[:GPUS_PER_RACK].any()
    assert plant.state.gpu_shutdown[GPUS_PER_RACK:].all()
    assert np.all(plant.state.gpu_power_w[:GPUS_PER_RACK] > GPU_IDLE_W)


def test_with_noisy_workloads_no_gpu_shuts_down_before_its_own_die_reaches_shutdown() -> None:
    """With per-GPU utilisation noise the dies diverge and cross 92 °C at different times; each
    GPU's shutdown still follows its own die temperature."""
    plant = _fail_both_pumps(default_config())
    first_off, last_off = None, None
    for i in range(600):
        die_before = plant.state.die_k.copy()
        off_before = plant.state.gpu_shutdown.copy()
        plant.step(1.0)
        s = plant.state
        newly_off = s.gpu_shutdown & ~off_before
        assert np.all(die_before[newly_off] >= SHUTDOWN_K)
        assert np.all(s.gpu_shutdown[die_before >= SHUTDOWN_K])
        assert np.all(s.gpu_shutdown[off_before])
        if newly_off.any():
            first_off = i if first_off is None else first_off
            last_off = i
    assert first_off is not None and last_off is not None and last_off > first_off


# --- load shedding and rack commands --------------------------------------------------------


@cache
def low_battery_config() -> SatelliteConfig:
    """Battery at 36 % and the orbit started 56° past the node, i.e. just inside the eclipse."""
    cfg = default_config()
    return dataclasses.replace(
        cfg, battery=dataclasses.replace(cfg.battery, initial_soc=0.36),
        orbit=dataclasses.replace(cfg.orbit, arg_latitude_deg=56.0))


def test_auto_shed_rises_below_30_percent_and_recovers_above_45_percent() -> None:
    """config [bus]: below 30 % SOC one level of 4 racks is shed per 60 s dwell; above 45 % one
    level is restored per dwell; in between nothing changes (hysteresis). Shed racks draw 0 W."""
    plant = Plant(low_battery_config())
    p = plant.params
    assert plant.illumination == 0.0
    changes: list[tuple[float, int, int, float]] = []
    max_level = 0
    for _ in range(360):  # one hour at 10 s steps
        s = plant.state
        level, last_change = s.shed_level_auto, s.shed_changed_s
        plant.step(10.0)
        t = plant.t_s  # shedding is decided on the SOC at the end of the step
        s = plant.state
        soc = float(np.dot(s.soc, s.capacity_factor) / s.capacity_factor.sum())
        new = s.shed_level_auto
        if new != level:
            assert abs(new - level) == 1
            assert t - last_change >= 60.0, "a shed step came before the dwell time"
            assert (new > level and soc < 0.30) or (new < level and soc > 0.45), (t, soc)
            changes.append((t, level, new, soc))
        max_level = max(max_level, new)
        on = N_RACKS - 4 * level  # a level decided at the end of a step acts from the next
        assert np.all(s.rack_power_w[on:] == 0.0)
        assert np.all(s.rack_power_w[:on] > 0.9 * RACK_BUSY_W)
        assert not s.undervoltage
    print("shed changes (t, from, to, SOC):", [(t, a, b, round(x, 3)) for t, a, b, x in changes])
    assert max_level == p.max_shed_level == 4
    assert plant.state.shed_level_auto == 0  # recovered in sunlight
    ups = [c for c in changes if c[2] > c[1]]
    downs = [c for c in changes if c[2] < c[1]]
    assert len(ups) == 4 and len(downs) == 4
    assert ups[-1][0] < downs[0][0]


def test_commanded_rack_disable_and_shed_level_remove_rack_power() -> None:
    plant = Plant(quiet_config())
    plant.run(30, 1.0)
    load_before = plant.state.bus_load_w
    plant.inputs.rack_enabled[5] = False
    plant.step(1.0)
    s = plant.state
    assert s.rack_power_w[5] == 0.0
    assert np.all(s.gpu_power_w[40:48] == 0.0)
    assert load_before - s.bus_load_w == pytest.approx(RACK_BUSY_W, abs=1e-6)
    plant.inputs.rack_enabled[5] = True
    plant.inputs.shed_level_cmd = 2  # operator sheds racks 9–16
    plant.step(1.0)
    s = plant.state
    assert s.rack_power_w[5] == pytest.approx(RACK_BUSY_W, abs=1e-9)
    assert np.all(s.rack_power_w[8:] == 0.0) and np.all(s.rack_power_w[:8] > 0.0)


# --- faults: each plant fault's visible effect, and clearing it ---------------------------------


@pytest.fixture(scope="module")
def base() -> Plant:
    """The quiet satellite one minute after epoch, in sunlight, charging. Tests fork it."""
    plant = Plant(quiet_config())
    plant.run(60, 1.0)
    return plant


FAULT_TESTS: set[str] = set()
F = TypeVar("F", bound=Callable[..., Any])


def covers(kind: str) -> Callable[[F], F]:
    """Mark a test as the effect test of a catalogue fault kind."""
    FAULT_TESTS.add(kind)
    return lambda f: f


@covers("solar_string_loss")
@pytest.mark.parametrize("strings", [12, 48])
def test_solar_string_loss_lowers_available_power_by_the_string_fraction(
    base: Plant, strings: int
) -> None:
    """Strings are in parallel: losing k of a wing's 48 strings removes k/48 of that wing, i.e.
    k/(48·4) of the array (tolerance 1e-12). Clearing restores it (1e-3: one step of a slightly
    hotter wing)."""
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault("solar_string_loss", "power.array.1", {"strings": strings})
    faulty.step(1.0)
    healthy.step(1.0)
    ratio = faulty.state.array_available_w / healthy.state.array_available_w
    assert ratio == pytest.approx(1.0 - strings / (48 * 4), rel=1e-12)
    faulty.clear_fault(fid)
    faulty.step(1.0)
    healthy.step(1.0)
    assert faulty.state.array_available_w == pytest.approx(healthy.state.array_available_w,
                                                           rel=1e-3)


@covers("array_drive_stuck")
def test_array_drive_stuck_follows_the_sun_direction_over_an_orbit() -> None:
    """A wing frozen Sun-pointing at t0 keeps its attitude in the orbit frame, so its incidence
    is cos θ = ŝ(t0)·ŝ(t); half an orbit later the in-plane Sun component has reversed:
    cos θ = sin²β − cos²β = −cos 2β (≈ 0.46 at β ≈ −58.6°). Available power then is
    η_reg·Σ S·A·η·(1−d)·cos θ_i·(1+γΔT_i) (tolerance 1e-9); clearing restores tracking."""
    plant = Plant(quiet_config())
    p = plant.params
    sun0 = orbit.environment(p.orbit, np.array([0.0])).sun_rtn[0]
    fid = plant.inject_fault("array_drive_stuck", "power.array.1", {"offset_deg": 0.0})
    half = p.orbit.period_s / 2.0
    cosines = []
    for t in (600.0, 2940.0, 4000.0, 5800.0):
        plant.run(round((t - plant.t_s) / 10.0), 10.0)
        wing_k = plant.state.wing_temp_k.copy()  # wings are slow nodes: held over the step
        plant.step(10.0)
        env = orbit.environment(p.orbit, np.array([t]))
        cos_t = float(sun0 @ env.sun_rtn[0])
        cosines.append(cos_t)
        per_wing = (env.solar_flux_w_m2[0] * 160.0 * 0.30 * 0.85 * 0.95
                    * (1.0 - 0.0022 * (wing_k - (28.0 + C_TO_K))) * np.array([cos_t, 1, 1, 1]))
        assert plant.state.array_available_w == pytest.approx(0.98 * per_wing.sum(), rel=1e-9)
    beta = float(env.beta_rad[0])
    cos_half = float(sun0 @ orbit.environment(p.orbit, np.array([half])).sun_rtn[0])
    print(f"stuck wing cos θ at 600/2940/4000/5800 s: {np.round(cosines, 3)}; "
          f"−cos 2β = {-math.cos(2 * beta):.3f}")
    assert cos_half == pytest.approx(-math.cos(2.0 * beta), abs=2e-3)
    assert min(cosines) < 0.5 < 0.9 < max(cosines)

    plant.clear_fault(fid)
    wing_k = plant.state.wing_temp_k.copy()
    plant.step(10.0)
    flux = plant.env_row.flux_w_m2
    per_wing = flux * 160.0 * 0.30 * 0.85 * 0.95 * (1.0 - 0.0022 * (wing_k - (28.0 + C_TO_K)))
    assert plant.state.array_available_w == pytest.approx(0.98 * per_wing.sum(), rel=1e-9)


@covers("battery_cell_short")
def test_battery_cell_short_drops_string_voltage_books_lost_energy_and_heats(
    base: Plant,
) -> None:
    """Shorting 2 of 28 series cells: (1) their chemical energy, 2/28 of the string's
    Q·n·∫OCV, leaves the books as fault energy; (2) in the CV charge phase each string is held at
    n·4.10 V, so the shorted one sits at 26 × 4.10 = 106.6 V against 114.8 V; (3) the 5 A soft
    short dissipates ≈ OCV·I ≈ 500 W inside the string, which warms faster."""
    faulty, healthy = base.fork(), base.fork()
    soc = float(faulty.state.soc[0])
    e_string = STRING_CAPACITY_AS * CELLS_SERIES * ocv_integral_v(0.0, soc)
    fault_before = faulty.state.e_fault_j
    fid = faulty.inject_fault("battery_cell_short", "power.battery.1", {"cells": 2, "leak_a": 5.0})
    assert faulty.state.e_fault_j - fault_before == pytest.approx(e_string * 2 / 28, rel=1e-9)
    faulty.step(1.0)
    v = faulty.state.batt_voltage_v
    assert v[0] == pytest.approx(26 * V_CUTOFF_CELL, abs=1e-6)
    assert np.allclose(v[1:], 28 * V_CUTOFF_CELL, atol=1e-6)
    faulty.run(599, 1.0)
    healthy.run(600, 1.0)
    warmer = faulty.state.batt_temp_k[0] - faulty.state.batt_temp_k[1]
    assert warmer > 0.5  # ≈ 500 W·600 s / 180 kJ/K ≈ 1.6 K before losses to the plate
    faulty.clear_fault(fid)
    faulty.step(1.0)
    assert np.allclose(faulty.state.batt_voltage_v, 28 * V_CUTOFF_CELL, atol=1e-6)


@covers("battery_heater_stuck_on")
def test_battery_heater_stuck_on_heats_its_string_by_the_first_order_law(base: Plant) -> None:
    """A welded relay puts 200 W into a 180 kJ/K string tied to the avionics plate by G W/K
    (config battery.conductance_to_avionics_w_k). Between the heated and an identical unheated
    string: C·dΔ/dt = P − G·Δ, so Δ(t) = (P/G)·(1 − e^(−G·t/C)) (tolerance 1 %). The bus carries the
    extra 200 W exactly; clearing switches it off (the strings are above the 10 °C off point)."""
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault("battery_heater_stuck_on", "power.battery.1")
    faulty.run(1800, 1.0)
    healthy.run(1800, 1.0)
    delta = faulty.state.batt_temp_k[0] - faulty.state.batt_temp_k[1]
    g, c = faulty.params.batt_g_w_k, faulty.params.batt_c_j_k
    assert (g, c) == (40.0, 180000.0)
    assert delta == pytest.approx(200.0 / g * (1.0 - math.exp(-g * 1800 / c)), rel=0.01)
    assert faulty.state.bus_load_w - healthy.state.bus_load_w == pytest.approx(200.0, abs=1e-6)
    assert faulty.state.heater_on[0] and not faulty.state.heater_on[1:].any()
    faulty.clear_fault(fid)
    faulty.step(1.0)
    healthy.step(1.0)
    assert not faulty.state.heater_on.any()
    assert faulty.state.bus_load_w == pytest.approx(healthy.state.bus_load_w, abs=1e-6)


def _into_eclipse(cfg: SatelliteConfig) -> Plant:
    t_in, _ = first_eclipse()
    plant = Plant(cfg)
    plant.run(math.ceil(t_in / 10.0) + 1, 10.0)
    assert plant.illumination < 0.5  # at the start of the last step
    return plant


@covers("battery_capacity_fade")
def test_battery_capacity_fade_deepens_the_eclipse_discharge() -> None:
    """A string that lost 20 % of its capacity but carries about the same current through the
    eclipse falls 1/(1 − 0.2) = 1.25 times as far in SOC (ΔSOC = ∫I dt / Q; tolerance 2 %).
    The charge above the new capacity is lost: E = Q·n·[∫₀^soc OCV − 0.8·∫₀^min(soc/0.8,1) OCV]
    booked as fault energy (tolerance 1e-9)."""
    _, t_out = first_eclipse()
    plant = _into_eclipse(quiet_config())
    soc = float(plant.state.soc[0])
    fault_before = plant.state.e_fault_j
    plant.inject_fault("battery_capacity_fade", "power.battery.1", {"fraction": 0.2})
    lost = STRING_CAPACITY_AS * CELLS_SERIES * (
        ocv_integral_v(0.0, soc) - 0.8 * ocv_integral_v(0.0, min(soc / 0.8, 1.0)))
    assert plant.state.e_fault_j - fault_before == pytest.approx(lost, rel=1e-9)
    start = plant.state.soc.copy()
    plant.run(math.floor((t_out - plant.t_s) / 10.0), 10.0)
    depth = start - plant.state.soc
    print(f"eclipse depth of discharge: faded {depth[0]:.3f}, healthy {depth[1]:.3f}")
    assert depth[0] / depth[1] == pytest.approx(1.25, rel=0.02)


@covers("battery_string_open")
def test_battery_string_open_carries_no_current() -> None:
    """An open string neither charges nor discharges: its SOC (dSOC/dt = −I/Q) stays fixed
    through an eclipse while the others carry the load; closed again, it discharges."""
    plant = _into_eclipse(quiet_config())
    fid = plant.inject_fault("battery_string_open", "power.battery.2")
    start = plant.state.soc.copy()
    plant.run(60, 10.0)
    soc = plant.state.soc
    assert soc[1] == start[1]
    assert np.all(start[[0, 2, 3]] - soc[[0, 2, 3]] > 0.05)
    plant.clear_fault(fid)
    plant.run(6, 10.0)
    assert plant.state.soc[1] < start[1]


@covers("pcdu_channel_trip")
def test_pcdu_channel_trip_unpowers_the_rack_until_cleared(base: Plant) -> None:
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault("pcdu_channel_trip", "compute.rack.3")
    faulty.step(1.0)
    healthy.step(1.0)
    assert faulty.state.rack_power_w[2] == 0.0
    assert np.all(faulty.state.gpu_power_w[16:24] == 0.0)
    assert healthy.state.bus_load_w - faulty.state.bus_load_w == pytest.approx(RACK_BUSY_W,
                                                                               abs=1e-6)
    faulty.clear_fault(fid)
    faulty.step(1.0)
    assert faulty.state.rack_power_w[2] == pytest.approx(RACK_BUSY_W, abs=1e-9)


@covers("rack_trip")
def test_rack_trip_latches_until_the_rack_is_power_cycled(base: Plant) -> None:
    plant = base.fork()
    fid = plant.inject_fault("rack_trip", "compute.rack.3")
    assert plant.state.lcl_tripped[2]
    plant.step(1.0)
    assert plant.state.rack_power_w[2] == 0.0
    plant.clear_fault(fid)  # the limiter is latched: clearing the cause does not close it
    plant.step(1.0)
    assert plant.state.lcl_tripped[2] and plant.state.rack_power_w[2] == 0.0
    plant.inputs.rack_enabled[2] = False
    plant.step(1.0)
    plant.inputs.rack_enabled[2] = True
    plant.step(1.0)
    assert not plant.state.lcl_tripped[2]
    assert plant.state.rack_power_w[2] == pytest.approx(RACK_BUSY_W, abs=1e-9)


@covers("pump_failure")
def test_pump_failure_stops_its_loop_only(base: Plant) -> None:
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault("pump_failure", "thermal.pump.1")
    faulty.step(1.0)
    healthy.step(1.0)
    assert faulty.state.loop_flow_kg_s.tolist() == [0.0, FLOW_KG_S]
    assert healthy.state.bus_load_w - faulty.state.bus_load_w == pytest.approx(500.0, abs=1e-6)
    faulty.clear_fault(fid)
    faulty.step(1.0)
    assert faulty.state.loop_flow_kg_s.tolist() == [FLOW_KG_S, FLOW_KG_S]


@covers("pump_degraded")
def test_pump_degraded_reduces_flow_by_its_health(base: Plant) -> None:
    """ṁ = ṁ_nominal·speed·health: 2.5 × 0.5 = 1.25 kg/s, and × 0.8 speed = 1.0 kg/s."""
    plant = base.fork()
    fid = plant.inject_fault("pump_degraded", "thermal.pump.2", {"health": 0.5})
    plant.step(1.0)
    assert plant.state.loop_flow_kg_s.tolist() == pytest.approx([2.5, 1.25], abs=1e-12)
    plant.inputs.pump_speed[1] = 0.8
    plant.step(1.0)
    assert plant.state.loop_flow_kg_s[1] == pytest.approx(1.0, abs=1e-12)
    plant.inputs.pump_speed[1] = 1.0
    plant.clear_fault(fid)
    plant.step(1.0)
    assert plant.state.loop_flow_kg_s[1] == pytest.approx(2.5, abs=1e-12)


@covers("coolant_leak")
def test_coolant_leak_drains_the_loop_and_the_pump_loses_prime(base: Plant) -> None:
    """Inventory m(t) = 150 kg − ṁ_leak·t; flow = ṁ_nom·clip((m/m0 − 0.3)/0.3, 0, 1): full down
    to 60 % of the charge (config min_inventory_fraction), none at 30 % (the model's prime ramp).
    Loops are slow nodes, updated every slow interval (10 s). Clearing stops the leak but
    returns no coolant."""
    plant = base.fork()
    fid = plant.inject_fault("coolant_leak", "thermal.loop.1", {"rate_kg_s": 1.0})
    for k in range(1, 16):
        plant.run(10, 1.0)
        m = INVENTORY_KG - 10.0 * k
        prime = min(1.0, max(0.0, (m / INVENTORY_KG - 0.3) / 0.3))
        assert plant.state.inventory_kg[0] == pytest.approx(m, abs=1e-9)
        assert plant.state.loop_flow_kg_s[0] == pytest.approx(FLOW_KG_S * prime, abs=1e-12)
        assert plant.state.inventory_kg[1] == INVENTORY_KG
    assert plant.state.loop_flow_kg_s[0] == 0.0
    plant.clear_fault(fid)
    plant.run(10, 1.0)
    assert plant.state.inventory_kg[0] == pytest.approx(0.0, abs=1e-9)
    assert plant.state.q_leaked_j > 0.0


@covers("radiator_stuck_stowed")
@covers("radiator_damage")
@pytest.mark.parametrize(
    ("kind", "params"),
    [("radiator_stuck_stowed", None), ("radiator_damage", {"emissivity_factor": 0.5})],
)
def test_radiator_faults_warm_their_panel_and_loop_only(
    base: Plant, kind: str, params: dict[str, float] | None
) -> None:
    """A stowed panel keeps 15 % of its radiating area; a damaged one half its ε. Either way it
    rejects less (εσA·T⁴) so the panel and its loop settle warmer; the other loop is untouched,
    bit for bit. Cleared, the panel (a stuck one redeploys in 120 s) is again as warm as its
    sibling on the same loop, and the loop's excess decays."""
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault(kind, "thermal.radiator.1", params)
    faulty.run(60, 10.0)
    healthy.run(60, 10.0)
    f, h = faulty.state, healthy.state
    print(f"{kind}: panel +{f.panel_k[0] - h.panel_k[0]:.2f} K, "
          f"loop +{f.loop_k[0] - h.loop_k[0]:.2f} K")
    assert f.panel_k[0] > h.panel_k[0] + 2.0
    assert f.loop_k[0] > h.loop_k[0] + 1.0
    assert f.loop_k[1] == h.loop_k[1] and np.array_equal(f.panel_k[8:], h.panel_k[8:])
    if kind == "radiator_stuck_stowed":
        assert f.panel_deploy_frac[0] == 0.0  # commanded deployed, but jammed
    warm = f.loop_k[0] - h.loop_k[0]
    faulty.clear_fault(fid)
    excess = []
    for _ in range(2):
        faulty.run(30, 10.0)
        healthy.run(30, 10.0)
        excess.append(faulty.state.loop_k[0] - healthy.state.loop_k[0])
    f = faulty.state
    assert f.panel_deploy_frac[0] == 1.0
    assert f.panel_k[0] == pytest.approx(f.panel_k[1], abs=0.05)  # like its sibling again
    # the loop's ~1 MJ/K sheds its excess with τ ≈ 20 min
    assert 0.0 < excess[1] < excess[0] and excess[1] < 0.8 * warm


@covers("gpu_failure")
def test_gpu_failure_removes_its_power(base: Plant) -> None:
    faulty, healthy = base.fork(), base.fork()
    fid = faulty.inject_fault("gpu_failure", "compute.rack.2.gpu.3")
    faulty.step(1.0)
    healthy.step(1.0)
    assert faulty.state.gpu_power_w[10] == 0.0
    assert healthy.state.rack_power_w[1] - faulty.state.rack_power_w[1] == pytest.approx(
        GPU_BUSY_W, abs=1e-9)
    faulty.clear_fault(fid)
    faulty.step(1.0)
    assert faulty.state.gpu_power_w[10] == pytest.approx(GPU_BUSY_W, abs=1e-9)


@covers("gpu_runaway")
def test_gpu_runaway_adds_power_and_a_large_one_trips_the_rack_limiter(base: Plant) -> None:
    """+600 W on one GPU: rack 5668 → 6268 W, under the 64 A × 120 V = 7680 W limiter. +2500 W:
    8168 W > 7680 W, so the latching limiter opens within the step and the rack goes dark; it
    stays open after the fault is cleared until the rack is power-cycled."""
    small, big = base.fork(), base.fork()
    small.inject_fault("gpu_runaway", "compute.rack.2.gpu.3", {"extra_w": 600.0})
    small.step(1.0)
    assert small.state.gpu_power_w[10] == pytest.approx(GPU_BUSY_W + 600.0, abs=1e-9)
    assert small.state.rack_power_w[1] == pytest.approx(RACK_BUSY_W + 600.0, abs=1e-9)
    assert not small.state.lcl_tripped.any()

    assert RACK_BUSY_W + 2500.0 > LCL_TRIP_W
    fid = big.inject_fault("gpu_runaway", "compute.rack.2.gpu.3", {"extra_w": 2500.0})
    big.step(1.0)
    assert big.state.lcl_tripped.tolist() == [i == 1 for i in range(N_RACKS)]
    assert big.state.rack_power_w[1] == 0.0
    big.clear_fault(fid)
    big.step(1.0)
    assert big.state.lcl_tripped[1]
    big.inputs.rack_enabled[1] = False
    big.step(1.0)
    big.inputs.rack_enabled[1] = True
    big.step(1.0)
    assert big.state.rack_power_w[1] == pytest.approx(RACK_BUSY_W, abs=1e-9)


def test_every_plant_fault_in_the_catalogue_has_an_effect_test() -> None:
    plant_kinds = {k.name for k in faults.CATALOGUE if k.plant}
    assert plant_kinds == FAULT_TESTS


def test_timed_fault_starts_and_ends_on_schedule(base: Plant) -> None:
    """A fault with start_s and duration_s acts from the first step starting at or after its
    start until the first step starting at or after its end."""
    plant = base.fork()
    plant.inject_fault("pump_failure", "thermal.pump.1", start_s=100.0, duration_s=50.0)
    flows = {}
    for _ in range(120):
        t = plant.t_s
        plant.step(1.0)
        flows[t] = plant.state.loop_flow_kg_s[0]
    assert flows[99.0] == FLOW_KG_S and flows[100.0] == 0.0
    assert flows[149.0] == 0.0 and flows[150.0] == FLOW_KG_S


# --- refused fault commands -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "target", "params", "kwargs", "match"),
    [
        ("pump_explosion", "thermal.pump.1", None, {}, r"unknown fault kind 'pump_explosion'"),
        ("pump_failure", "thermal.pump.3", None, {}, r"thermal\.pump\.<1\.\.2>"),
        ("pump_failure", "power.array.1", None, {}, r"'power\.array\.1' is not valid"),
        ("gpu_failure", "compute.rack.17.gpu.1", None, {},
         r"compute\.rack\.<1\.\.16>\.gpu\.<1\.\.8>"),
        ("gpu_failure", "compute.rack.1.gpu.9", None, {}, r"is not a GPU"),
        ("pump_degraded", "thermal.pump.1", {"speed": 0.5}, {},
         r"unknown parameter 'speed'; expected health"),
        ("pump_degraded", "thermal.pump.1", {"health": 1.5}, {},
         r"health = 1\.5 1 is outside 0\.\.1"),
        ("solar_string_loss", "power.array.1", {"strings": "many"}, {}, r"is not a number"),
        ("battery_cell_short", "power.battery.1", {"cells": 0}, {}, r"cells = 0"),
        ("pump_failure", "thermal.pump.1", None, {"duration_s": 0.0}, r"duration_s = 0\.0"),
        pytest.param("pump_degraded", "thermal.pump.1", {"health": math.nan}, {}, r"health",
                     id="nan-parameter"),
        pytest.param("pump_failure", "thermal.pump.1", None, {"start_s": math.nan}, r"start_s",
                     id="nan-start"),
        pytest.param("pump_failure", "thermal.pump.1", None, {"duration_s": math.inf},
                     r"duration_s", id="inf-duration"),
    ],
)
def test_bad_fault_commands_are_refused_with_a_clear_message(
    kind: str, target: str, params: dict[str, Any] | None, kwargs: dict[str, float], match: str
) -> None:
    plant = Plant(default_config())
    before = plant.state.copy()
    with pytest.raises(CommandError, match=match):
        plant.inject_fault(kind, target, params, **kwargs)
    assert plant.faults == []
    assert plant.state.equals(before)


def test_clearing_an_unknown_or_cleared_fault_is_refused() -> None:
    plant = Plant(default_config())
    with pytest.raises(CommandError, match="no active or pending fault with id 7"):
        plant.clear_fault(7)
    fid = plant.inject_fault("pump_failure", "thermal.pump.1")
    plant.clear_fault(fid)
    with pytest.raises(CommandError, match=f"id {fid}"):
        plant.clear_fault(fid)


def test_cleared_array_drive_reports_sun_pointing_incidence_again() -> None:
    """After the drive is freed the wing tracks the Sun: incidence 0 in the observables."""
    from twin.model.outputs import outputs

    plant = Plant(quiet_config())
    fid = plant.inject_fault("array_drive_stuck", "power.array.1", {"offset_deg": 60.0})
    plant.run(10, 1.0)
    plant.clear_fault(fid)
    plant.run(10, 1.0)
    obs = outputs(plant.params, plant.state, plant.inputs, plant.illumination, plant.beta_rad,
                  plant.env_row.flux_w_m2)
    assert np.allclose(obs["wing_incidence_rad"], 0.0, atol=1e-9)

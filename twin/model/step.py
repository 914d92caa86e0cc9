"""One plant step: environment → arrays → loads and protections → battery and bus → heat.

``advance(p, s, u, dt_s, env)`` updates a :class:`PlantState` in place for one step of ``dt_s``
under the standing commands ``u`` and the environment row ``env`` (the orbit at the start of the
step). Sub-models are in their own modules; this one wires them in a fixed order so the same
inputs always give the same bits. Energy is booked on the way: electricity generated, consumed by
loads, lost in converters and the battery, and heat dissipated, absorbed, radiated and leaked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.model import compute, electrical, thermal
from twin.model.orbit import EARTH_ALBEDO, EARTH_IR_W_M2
from twin.model.params import Params
from twin.model.state import (
    GPU_FAILED,
    GPU_NOMINAL,
    GPU_OFF,
    GPU_POWER_CAPPED,
    GPU_SHUTDOWN,
    GPU_THROTTLED,
    HEATER_AUTO,
    HEATER_ON,
    Inputs,
    PlantState,
)

HARDWARE_CAPACITY_FRACTION = 0.05  # pipes, pump and accumulator: 5 % of the coolant's capacity


@dataclass(slots=True)
class EnvRow:
    """The orbit environment at one instant, as plain floats."""

    flux_w_m2: float  # direct solar flux on a Sun-facing surface, 0 in umbra
    flux_full_w_m2: float  # solar constant at this Sun distance (for albedo)
    sun_r: float
    sun_t: float
    sun_n: float
    albedo_factor: float
    array_f_front: float  # Earth view factor of a Sun-pointing wing's front face
    array_f_back: float


def loop_heat_capacity_j_k(p: Params, inventory_kg: np.ndarray) -> np.ndarray:
    return (inventory_kg + HARDWARE_CAPACITY_FRACTION * p.inventory_kg) * p.cp


def internal_energy_j(p: Params, s: PlantState) -> float:
    """Σ C·T over every body node (K reference): the store the heat book closes against."""
    return float(
        p.die_c_j_k * s.die_k.sum()
        + p.plate_c_j_k * s.plate_k.sum()
        + np.dot(loop_heat_capacity_j_k(p, s.inventory_kg), s.loop_k)
        + p.panel_c_j_k * s.panel_k.sum()
        + p.batt_c_j_k * s.batt_temp_k.sum()
        + p.av_c_j_k * s.av_k
    )


def stored_energy_j(p: Params, s: PlantState) -> float:
    return float(electrical.stored_energy_j(p, s.soc, s.capacity_factor, s.shorted_cells).sum())


def effective_shed_level(p: Params, s: PlantState, u: Inputs) -> int:
    return min(p.max_shed_level, max(u.shed_level_cmd, s.shed_level_auto))


def _auto_shed(p: Params, s: PlantState, t_s: float) -> None:
    """SOC-based shedding, one level per dwell time, with hysteresis on recovery."""
    cap = s.capacity_factor * s.string_online
    total = float(cap.sum())
    soc = float(np.dot(s.soc, cap)) / total if total > 0.0 else 0.0
    if t_s - s.shed_changed_s < p.shed_dwell_s:
        return
    if soc < p.shed_soc and s.shed_level_auto < p.max_shed_level:
        s.shed_level_auto += 1
        s.shed_changed_s = t_s
    elif soc > p.recover_soc and s.shed_level_auto > 0:
        s.shed_level_auto -= 1
        s.shed_changed_s = t_s


def advance(p: Params, s: PlantState, u: Inputs, dt_s: float, env: EnvRow) -> None:  # noqa: PLR0915
    t_s = s.t_us / 1e6
    flux = env.flux_w_m2

    # --- solar array ---------------------------------------------------------------------
    if s.wing_stuck.any():
        n = s.wing_stuck_normal
        cos_stuck = n[:, 0] * env.sun_r + n[:, 1] * env.sun_t + n[:, 2] * env.sun_n
        cos_inc = np.where(s.wing_stuck, cos_stuck, 1.0)
    else:
        cos_inc = np.ones(p.n_wings)
    ok = 1.0 - s.wing_strings_failed / p.strings_per_wing
    mpp_w = electrical.array_power_w(flux, cos_inc, p.wing_area_m2, p.array_eta,
                                     p.array_degradation, s.wing_temp_k, p.array_tref_k,
                                     p.array_tc_per_k, ok)
    available_w = float(mpp_w.sum()) * p.regulator_eff

    # --- loads and protections -----------------------------------------------------------
    _auto_shed(p, s, t_s)
    commanded_off = ~u.rack_enabled
    if commanded_off.any():  # switching a rack off resets its limiter and its GPUs
        s.lcl_tripped = s.lcl_tripped & u.rack_enabled
    s.util_noise = compute.noise_step(p, s.util_noise, s.rng, dt_s)
    util = np.clip(compute.profile_utilisation(p, t_s) + s.util_noise, 0.0, 1.0)
    therm = compute.thermal_clock_frac(p, s.die_k)
    s.gpu_shutdown = s.gpu_shutdown | (s.die_k >= p.shutdown_k)
    gpr = p.gpus_per_rack

    # Heaters: thermostat with hysteresis, overridden by command or a welded relay.
    auto_on = np.where(s.batt_temp_k < p.heater_on_k, True,
                       np.where(s.batt_temp_k > p.heater_off_k, False, s.heater_on))
    heater = np.where(u.heater_mode == HEATER_AUTO, auto_on, u.heater_mode == HEATER_ON)
    s.heater_on = heater | s.heater_stuck
    heater_w = s.heater_on * p.heater_w

    pump_run = ~s.pump_failed
    pump_speed = u.pump_speed * pump_run
    pump_w = p.pump_w * pump_speed**3
    fixed_w = float(heater_w.sum() + pump_w.sum()) + p.avionics_w

    ocv_cell = electrical.ocv_cell_v(p, s.soc)
    n_series = p.cells_series - s.shorted_cells
    ocv = ocv_cell * n_series
    r0 = p.cell_r0 * n_series
    online = s.string_online
    max_dis = np.where(online, electrical.max_discharge_power_w(
        p, ocv, s.v1, r0, p.v_min_cell * n_series), 0.0)
    supply_max = available_w + float(max_dis.sum()) * p.bdr_eff

    while True:
        level = effective_shed_level(p, s, u)
        shed = np.arange(p.n_racks) >= p.n_racks - level * p.racks_per_level
        rack_on = u.rack_enabled & ~s.lcl_tripped & ~s.lcl_fault & ~shed
        running = np.repeat(rack_on, gpr) & ~s.gpu_failed & ~s.gpu_shutdown
        cap = compute.cap_clock_frac(p, util, s.gpu_runaway_w, running, u.rack_cap_w)
        clock = np.minimum(therm, np.repeat(cap, gpr))
        gpu_w = running * (p.gpu_idle_w + compute.dynamic_power_w(p, util, clock)
                           + s.gpu_runaway_w)
        rack_w = gpu_w.reshape(p.n_racks, gpr).sum(axis=1) + rack_on * p.rack_overhead_w
        trip = rack_w > p.lcl_trip_a * p.bus_v
        if trip.any():  # limiter trips within the step: the rack is off from now on
            s.lcl_tripped = s.lcl_tripped | trip
            continue
        loads_w = float(rack_w.sum()) + fixed_w
        demand_w = loads_w / p.dist_eff
        if demand_w <= supply_max or level >= p.max_shed_level:
            break
        s.shed_level_auto = max(s.shed_level_auto, level) + 1  # undervoltage: shed at once
        s.shed_changed_s = t_s
    s.undervoltage = demand_w > supply_max
    s.gpu_shutdown = s.gpu_shutdown & np.repeat(rack_on, gpr)  # power removed: GPUs reset
    brown = min(1.0, supply_max / demand_w) if demand_w > 0.0 else 1.0
    if brown < 1.0:  # nothing left to shed: the bus sags and every load gets its share
        gpu_w = gpu_w * brown
        rack_w = rack_w * brown
        heater_w = heater_w * brown
        pump_w = pump_w * brown
        loads_w *= brown
        demand_w *= brown

    # --- battery and bus -----------------------------------------------------------------
    if available_w >= demand_w:
        surplus = available_w - demand_w
        i_max = np.where(online, electrical.max_charge_current_a(
            p, ocv, s.v1, r0, p.v_cutoff_cell * n_series), 0.0)
        term_max = (ocv - s.v1 + r0 * i_max) * i_max
        chg_max_bus = term_max / p.bcr_eff
        total = float(chg_max_bus.sum())
        charge_bus = min(surplus, total)
        share = chg_max_bus * (charge_bus / total) if total > 0.0 else chg_max_bus * 0.0
        term_w = -share * p.bcr_eff
        conv_loss = charge_bus - float(share.sum()) * p.bcr_eff
        used_w = demand_w + charge_bus
        s.shunt_w = surplus - charge_bus
    else:
        deficit = demand_w - available_w
        total = float(max_dis.sum())
        term_total = deficit / p.bdr_eff
        term_w = max_dis * (min(term_total, total) / total) if total > 0.0 else max_dis * 0.0
        conv_loss = float(term_w.sum()) * (1.0 - p.bdr_eff)
        used_w = available_w
        s.shunt_w = 0.0
    current = np.where(online, electrical.discharge_current_a(ocv, s.v1, r0, term_w), 0.0)
    current = np.nan_to_num(current)
    batt_loss_w = (s.v1 + r0 * current) * current + ocv * s.leak_a
    s.batt_voltage_v = ocv - s.v1 - r0 * current
    s.batt_current_a = current
    cap_as = p.capacity_as * s.capacity_factor
    s.soc = np.clip(s.soc - (current + s.leak_a) * dt_s / cap_as, 0.0, 1.0)
    s.v1 = electrical.rc_step(s.v1, current, p.cell_r1 * n_series, p.tau1_s, dt_s)

    generated_w = used_w / p.regulator_eff
    reg_loss = generated_w - used_w
    dist_loss = demand_w - loads_w
    s.array_available_w = available_w
    s.array_used_w = used_w
    s.bus_load_w = loads_w
    s.bus_voltage_v = p.bus_v * (brown if brown < 1.0 else 1.0)
    s.rack_on = rack_on
    s.rack_power_w = rack_w
    s.gpu_power_w = gpu_w
    s.gpu_util = util * running
    s.gpu_clock_frac = clock * running
    s.pflops = compute.delivered_pflops(p, util, clock, running)
    state = np.full(p.n_gpus, GPU_NOMINAL, dtype=np.int8)
    state[np.repeat(cap, gpr) < 1.0] = GPU_POWER_CAPPED
    state[therm < 1.0] = GPU_THROTTLED
    state[~running] = GPU_OFF
    state[s.gpu_shutdown] = GPU_SHUTDOWN
    state[s.gpu_failed] = GPU_FAILED
    s.gpu_state = state

    # Wing temperature: sunlight and Earth in, electricity and radiation out.
    share_used = used_w / available_w if available_w > 0.0 else 0.0
    wing_elec = mpp_w * share_used
    s.wing_power_w = wing_elec
    vmp = p.array_vmp_v * (1.0 + p.array_vtc_per_k * (s.wing_temp_k - p.array_tref_k))
    s.wing_voltage_v = np.where(wing_elec > 0.0, vmp, 0.0)
    s.wing_current_a = np.where(wing_elec > 0.0, wing_elec / vmp, 0.0)
    s.wing_cos_inc = cos_inc
    alb = EARTH_ALBEDO * env.flux_full_w_m2 * env.albedo_factor
    absorbed = p.wing_area_m2 * (
        p.array_alpha * (flux * np.maximum(cos_inc, 0.0) + alb * env.array_f_front)
        + EARTH_IR_W_M2 * (p.array_eps_front * env.array_f_front
                           + p.array_eps_back * env.array_f_back))
    s.wing_temp_k = electrical.array_temp_step(p, s.wing_temp_k, absorbed, wing_elec, dt_s)

    # --- coolant loops and radiators -----------------------------------------------------
    leaked = np.minimum(s.leak_kg_s * dt_s, s.inventory_kg)
    q_leak = float(np.dot(leaked, s.loop_k)) * p.cp
    s.inventory_kg = s.inventory_kg - leaked
    frac = s.inventory_kg / p.inventory_kg
    half = 0.5 * p.min_inventory_frac
    prime = np.clip((frac - half) / half, 0.0, 1.0)
    flow = p.flow_nominal_kg_s * pump_speed * s.pump_health * prime
    s.loop_flow_kg_s = flow
    s.pump_power_w = pump_w
    g_plate = thermal.exchanger_conductance_w_k(flow / p.gpus_per_loop, p.cp, p.plate_ua_w_k)
    g_panel = thermal.exchanger_conductance_w_k(flow / p.panels_per_loop, p.cp, p.panel_ua_w_k)

    target = u.panel_deploy.astype(float)
    step = dt_s / p.deploy_time_s
    moved = np.clip(target, s.panel_deploy_frac - step, s.panel_deploy_frac + step)
    s.panel_deploy_frac = np.where(s.panel_stuck, s.panel_deploy_frac, moved)
    area = p.panel_area_m2 * (p.stowed_frac + (1.0 - p.stowed_frac) * s.panel_deploy_frac)
    eps = p.panel_eps * s.panel_eps_factor
    pn = p.panel_normal_rtn
    cos_sun = abs(pn[0] * env.sun_r + pn[1] * env.sun_t + pn[2] * env.sun_n)
    panel_abs = area * (p.panel_alpha * (flux * cos_sun + alb * p.panel_earth_f2)
                        + eps * (EARTH_IR_W_M2 * p.panel_earth_f2))
    panel_k4 = (2.0 * p.fin_eff * p.sigma) * eps * area
    direct = np.bincount(p.rack_loop, rack_on * (p.rack_overhead_w * brown), p.n_loops) + pump_w
    c_loop = loop_heat_capacity_j_k(p, s.inventory_kg)
    sol = thermal.solve_loops(
        dt_s, s.die_k, s.plate_k, gpu_w, p.die_c_j_k, p.plate_c_j_k, p.g_jc_w_k,
        g_plate[p.gpu_loop], p.gpu_loop, s.loop_k, c_loop, direct,
        s.panel_k, p.panel_c_j_k, g_panel[p.panel_loop], p.panel_loop, panel_abs, panel_k4,
        p.sink_k)
    heat_in = sol.plate_to_loop_w + direct
    half_rise = np.where(flow > 0.0, heat_in / np.maximum(flow * p.cp, 1e-12) * 0.5, 0.0)
    s.die_k, s.plate_k, s.loop_k, s.panel_k = sol.die_k, sol.plate_k, sol.loop_k, sol.panel_k
    s.loop_heat_in_w = heat_in
    s.supply_k = sol.loop_k - half_rise
    s.return_k = sol.loop_k + half_rise
    s.panel_heat_w = sol.radiated_w

    an = p.av_normal_rtn
    av_cos = max(0.0, an[0] * env.sun_r + an[1] * env.sun_t + an[2] * env.sun_n)
    av_abs = p.av_area_m2 * (p.av_alpha * (flux * av_cos + alb * p.av_earth_f)
                             + p.av_eps * EARTH_IR_W_M2 * p.av_earth_f)
    av_in = p.avionics_w * brown + reg_loss + dist_loss + conv_loss + av_abs
    batt_in = batt_loss_w + heater_w
    s.batt_temp_k, s.av_k, av_rad = thermal.solve_avionics(
        dt_s, s.batt_temp_k, p.batt_c_j_k, batt_in, p.batt_g_w_k,
        s.av_k, p.av_c_j_k, av_in, p.av_eps * p.sigma * p.av_area_m2, p.sink_k)

    # --- books and time ------------------------------------------------------------------
    batt_loss = float(batt_loss_w.sum())
    s.e_generated_j += generated_w * dt_s
    s.e_loads_j += loads_w * dt_s
    s.e_losses_j += (reg_loss + dist_loss + conv_loss + batt_loss) * dt_s
    s.q_dissipated_j += (loads_w + reg_loss + dist_loss + conv_loss + batt_loss) * dt_s
    s.q_absorbed_j += (float(panel_abs.sum()) + av_abs) * dt_s
    s.q_radiated_j += (float(sol.radiated_w.sum()) + av_rad) * dt_s
    s.q_leaked_j += q_leak
    s.t_us += int(round(dt_s * 1e6))
    s.tick += 1

"""One plant step: environment → arrays → loads and protections → battery and bus → heat.

``advance(p, s, u, dt_s, env)`` updates a :class:`PlantState` in place for one step of ``dt_s``
under the standing commands ``u`` and the environment row ``env`` (the orbit at the start of the
step). Sub-models are in their own modules; this one wires them in a fixed order so the same
inputs always give the same bits. Energy is booked on the way: electricity generated, consumed by
loads, lost in converters and the battery, and heat dissipated, absorbed, radiated and leaked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.model import compute, electrical, thermal
from twin.model.orbit import EARTH_ALBEDO, EARTH_IR_W_M2
from twin.model.params import Params
from twin.model.state import HEATER_AUTO, HEATER_ON, Inputs, PlantState

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


def refresh_derived(p: Params, s: PlantState) -> None:
    """Recompute the state's cached fault-derived arrays (after faults or latches change)."""
    s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
    s.gpu_base_w = p.gpu_idle_w + s.gpu_runaway_w
    s.n_series = (p.cells_series - s.shorted_cells).astype(float)
    s.strings_ok_frac = 1.0 - s.wing_strings_failed / p.strings_per_wing
    s.any_stuck = bool(s.wing_stuck.any())
    s.any_leak = bool(s.leak_a.any() or s.leak_kg_s.any())


def advance(p: Params, s: PlantState, u: Inputs, dt_s: float, env: EnvRow) -> None:
    """One step in place. Written for speed: few numpy calls, scalars as Python floats."""
    t_s = s.t_us / 1e6
    flux = env.flux_w_m2
    nl = p.n_loops

    # --- solar array ---------------------------------------------------------------------
    k_wing = flux * p.wing_area_m2 * p.array_eta * (1.0 - p.array_degradation)
    mpp_w = ((s.wing_temp_k - p.array_tref_k) * p.array_tc_per_k + 1.0) * s.strings_ok_frac
    if s.any_stuck:
        n = s.wing_stuck_normal
        cos_stuck = n[:, 0] * env.sun_r + n[:, 1] * env.sun_t + n[:, 2] * env.sun_n
        cos_inc = np.where(s.wing_stuck, np.maximum(cos_stuck, 0.0), 1.0)
        mpp_w = mpp_w * cos_inc * k_wing
        s.wing_cos_inc = cos_inc
    else:
        mpp_w *= k_wing
    available_w = float(np.add.reduce(mpp_w)) * p.regulator_eff

    # --- GPUs: utilisation and thermal clock ---------------------------------------------
    _auto_shed(p, s, t_s)
    if not u.rack_enabled.all():  # switching a rack off resets its latching limiter
        s.lcl_tripped = s.lcl_tripped & u.rack_enabled
    s.util_noise = compute.noise_step(p, s.util_noise, s.rng, dt_s)
    util = np.minimum(np.maximum(s.util_noise + compute.profile_utilisation(p, t_s), 0.0), 1.0)
    hottest = float(np.maximum.reduce(s.die_k))
    if hottest >= p.slowdown_k:
        therm: np.ndarray | float = compute.thermal_clock_frac(p, s.die_k)
        if hottest >= p.shutdown_k:
            s.gpu_shutdown = s.gpu_shutdown | (s.die_k >= p.shutdown_k)
            s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
    else:
        therm = 1.0
    capped = bool(np.isfinite(u.rack_cap_w).any())
    unity_clock = not capped and hottest < p.slowdown_k
    dyn_max = p.gpu_tdp_w - p.gpu_idle_w

    # --- other loads ---------------------------------------------------------------------
    b_k = s.batt_temp_k
    auto_on = (b_k < p.heater_on_k) | (s.heater_on & (b_k <= p.heater_off_k))
    if u.heater_mode.any():
        auto_on = np.where(u.heater_mode == HEATER_AUTO, auto_on, u.heater_mode == HEATER_ON)
    s.heater_on = auto_on | s.heater_stuck
    heater_total = float(np.count_nonzero(s.heater_on)) * p.heater_w
    pump_speed = [0.0 if s.pump_failed[i] else float(u.pump_speed[i]) for i in range(nl)]
    pump_w = [p.pump_w * x * x * x for x in pump_speed]
    fixed_w = heater_total + sum(pump_w) + p.avionics_w

    # --- battery limits --------------------------------------------------------------------
    ocv = electrical.ocv_cell_v(p, s.soc) * s.n_series
    r0 = p.cell_r0 * s.n_series
    e = ocv - s.v1
    online = s.string_online
    all_online = bool(online.all())

    # --- load switching, limiters and shedding -------------------------------------------
    max_dis: np.ndarray | None = None
    supply_max = math.inf
    while True:
        level = effective_shed_level(p, s, u)
        rack_on = u.rack_enabled & ~s.lcl_tripped & ~s.lcl_fault
        if level:
            rack_on = rack_on & (np.arange(p.n_racks) < p.n_racks - level * p.racks_per_level)
        running = rack_on[p.gpu_rack] & s.gpu_ok
        if capped:
            cap = compute.cap_clock_frac(p, util, s.gpu_runaway_w, running, u.rack_cap_w)
            clock = np.minimum(therm, cap[p.gpu_rack])
        else:
            cap = None
            clock = therm
        dyn = util * dyn_max if unity_clock else util * (dyn_max * clock**p.power_exp)
        gpu_w = (dyn + s.gpu_base_w) * running
        rack_w = np.add.reduce(gpu_w.reshape(p.n_racks, p.gpus_per_rack), axis=1)
        rack_w += rack_on * p.rack_overhead_w
        if float(np.maximum.reduce(rack_w)) > p.lcl_trip_w:  # trips within the step
            s.lcl_tripped = s.lcl_tripped | (rack_w > p.lcl_trip_w)
            continue
        loads_w = float(np.add.reduce(rack_w)) + fixed_w
        demand_w = loads_w / p.dist_eff
        if demand_w <= available_w:
            break
        if max_dis is None:
            i_v = np.minimum(np.maximum((e - p.v_min_cell * s.n_series) / r0, 0.0),
                             p.i_discharge_max_a)
            max_dis = (e - r0 * i_v) * i_v
            if not all_online:
                max_dis = max_dis * online
            supply_max = available_w + float(np.add.reduce(max_dis)) * p.bdr_eff
        if demand_w <= supply_max or level >= p.max_shed_level:
            break
        s.shed_level_auto = max(s.shed_level_auto, level) + 1  # undervoltage: shed at once
        s.shed_changed_s = t_s
    s.undervoltage = demand_w > supply_max
    off = ~rack_on
    if (s.gpu_shutdown & off[p.gpu_rack]).any():  # power removed: shut-down GPUs reset
        s.gpu_shutdown = s.gpu_shutdown & rack_on[p.gpu_rack]
        s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
    brown = 1.0
    if demand_w > supply_max:  # nothing left to shed: the bus sags, every load gets its share
        brown = supply_max / demand_w
        gpu_w = gpu_w * brown
        rack_w = rack_w * brown
        pump_w = [x * brown for x in pump_w]
        heater_total *= brown
        loads_w *= brown
        demand_w *= brown

    # --- battery and bus -----------------------------------------------------------------
    if available_w >= demand_w:
        surplus = available_w - demand_w
        i_max = np.minimum(np.maximum((p.v_cutoff_cell * s.n_series - e) / r0, 0.0),
                           p.i_charge_max_a)
        chg_bus = (e + r0 * i_max) * i_max * (1.0 / p.bcr_eff)
        if not all_online:
            chg_bus = chg_bus * online
        total = float(np.add.reduce(chg_bus))
        charge_bus = min(surplus, total)
        term_w = chg_bus * (-(charge_bus / total) * p.bcr_eff if total > 0.0 else 0.0)
        conv_loss = charge_bus * (1.0 - p.bcr_eff)
        used_w = demand_w + charge_bus
        s.shunt_w = surplus - charge_bus
    else:
        assert max_dis is not None
        total = float(np.add.reduce(max_dis))
        term_total = min((demand_w - available_w) / p.bdr_eff, total)
        term_w = max_dis * (term_total / total if total > 0.0 else 0.0)
        conv_loss = term_total * (1.0 - p.bdr_eff)
        used_w = available_w
        s.shunt_w = 0.0
    current = (2.0 * term_w) / (e + np.sqrt(e * e - (4.0 * r0) * term_w))
    batt_loss_w = (s.v1 + r0 * current) * current
    s.batt_voltage_v = e - r0 * current
    s.batt_current_a = current
    inv_cap = dt_s / (p.capacity_as * s.capacity_factor)
    if s.any_leak:
        batt_loss_w = batt_loss_w + ocv * s.leak_a
        s.soc = np.minimum(np.maximum(s.soc - (current + s.leak_a) * inv_cap, 0.0), 1.0)
    else:
        s.soc = s.soc - current * inv_cap
    decay = math.exp(-dt_s / p.tau1_s)
    s.v1 = s.v1 * decay + current * (p.cell_r1 * (1.0 - decay)) * s.n_series

    generated_w = used_w / p.regulator_eff
    reg_loss = generated_w - used_w
    dist_loss = demand_w - loads_w
    s.array_available_w = available_w
    s.array_used_w = used_w
    s.bus_load_w = loads_w
    s.bus_voltage_v = p.bus_v * brown
    s.rack_on = rack_on
    s.rack_power_w = rack_w
    s.rack_cap_frac = cap if cap is not None else p.ones_racks
    s.gpu_power_w = gpu_w
    s.gpu_util = util
    s.gpu_running = running
    s.gpu_clock_frac = clock if isinstance(clock, np.ndarray) else p.ones_gpus

    # Wing temperature: sunlight and Earth in, electricity and radiation out.
    share_used = used_w / available_w if available_w > 0.0 else 0.0
    s.wing_mpp_w = mpp_w
    wing_elec = mpp_w * share_used
    s.wing_power_w = wing_elec
    alb = EARTH_ALBEDO * env.flux_full_w_m2 * env.albedo_factor
    wing_env = p.wing_area_m2 * (
        p.array_alpha * alb * env.array_f_front
        + EARTH_IR_W_M2 * (p.array_eps_front * env.array_f_front
                           + p.array_eps_back * env.array_f_back))
    sun_w = p.wing_area_m2 * p.array_alpha * flux
    absorbed = (s.wing_cos_inc * sun_w if s.any_stuck else sun_w) + wing_env
    s.wing_temp_k = electrical.array_temp_step(p, s.wing_temp_k, absorbed, wing_elec, dt_s)

    # --- coolant loops and radiators -----------------------------------------------------
    q_leak = 0.0
    if s.any_leak:
        leaked = np.minimum(s.leak_kg_s * dt_s, s.inventory_kg)
        q_leak = float(np.dot(leaked, s.loop_k)) * p.cp
        s.inventory_kg = s.inventory_kg - leaked
    half = 0.5 * p.min_inventory_frac
    flow = []
    for i in range(nl):
        prime = min(1.0, max(0.0, (float(s.inventory_kg[i]) / p.inventory_kg - half) / half))
        flow.append(p.flow_nominal_kg_s * pump_speed[i] * float(s.pump_health[i]) * prime)
    g_plate = [thermal.exchanger_g(f / p.gpus_per_loop, p.cp, p.plate_ua_w_k) for f in flow]
    g_panel = [thermal.exchanger_g(f / p.panels_per_loop, p.cp, p.panel_ua_w_k) for f in flow]

    frac = s.panel_deploy_frac
    target = u.panel_deploy
    if (frac != target).any():
        step = dt_s / p.deploy_time_s
        moved = np.minimum(np.maximum(target, frac - step), frac + step)
        s.panel_deploy_frac = frac = np.where(s.panel_stuck, frac, moved)
    area = (p.panel_area_m2 * (1.0 - p.stowed_frac)) * frac + p.panel_area_m2 * p.stowed_frac
    eps = p.panel_eps * s.panel_eps_factor
    pn = p.panel_normal_rtn
    cos_sun = abs(pn[0] * env.sun_r + pn[1] * env.sun_t + pn[2] * env.sun_n)
    panel_abs = area * (p.panel_alpha * (flux * cos_sun + alb * p.panel_earth_f2)
                        + eps * (EARTH_IR_W_M2 * p.panel_earth_f2))
    panel_k4 = eps * area * (2.0 * p.fin_eff * p.sigma)
    direct = np.add.reduce((rack_on * (p.rack_overhead_w * brown)).reshape(nl, -1), axis=1)
    direct = [float(direct[i]) + pump_w[i] for i in range(nl)]
    c_loop = loop_heat_capacity_j_k(p, s.inventory_kg).tolist()
    sol = thermal.solve_loops_fast(
        dt_s, s.die_k, s.plate_k, gpu_w, p.die_c_j_k, p.plate_c_j_k, p.g_jc_w_k, g_plate,
        s.loop_k.tolist(), c_loop, direct,
        s.panel_k, p.panel_c_j_k, g_panel, panel_abs, panel_k4, p.sink_k)
    s.die_k, s.plate_k, s.panel_k = sol.die_k, sol.plate_k, sol.panel_k
    s.loop_k = np.array(sol.loop_k)
    heat_in = [sol.plate_to_loop_w[i] + direct[i] for i in range(nl)]
    rise = [heat_in[i] / (flow[i] * p.cp) * 0.5 if flow[i] > 0.0 else 0.0 for i in range(nl)]
    s.loop_flow_kg_s = np.array(flow)
    s.pump_power_w = np.array(pump_w)
    s.loop_heat_in_w = np.array(heat_in)
    s.supply_k = s.loop_k - np.array(rise)
    s.return_k = s.loop_k + np.array(rise)
    s.panel_heat_w = sol.radiated_w

    an = p.av_normal_rtn
    av_cos = max(0.0, an[0] * env.sun_r + an[1] * env.sun_t + an[2] * env.sun_n)
    av_abs = p.av_area_m2 * (p.av_alpha * (flux * av_cos + alb * p.av_earth_f)
                             + p.av_eps * EARTH_IR_W_M2 * p.av_earth_f)
    av_in = p.avionics_w * brown + reg_loss + dist_loss + conv_loss + av_abs
    batt_in = batt_loss_w + p.heater_w * brown * s.heater_on
    s.batt_temp_k, s.av_k, av_rad = thermal.solve_avionics(
        dt_s, s.batt_temp_k, p.batt_c_j_k, batt_in, p.batt_g_w_k,
        s.av_k, p.av_c_j_k, av_in, p.av_eps * p.sigma * p.av_area_m2, p.sink_k)

    # --- books and time ------------------------------------------------------------------
    batt_loss = float(np.add.reduce(batt_loss_w))
    losses = reg_loss + dist_loss + conv_loss + batt_loss
    s.e_generated_j += generated_w * dt_s
    s.e_loads_j += loads_w * dt_s
    s.e_losses_j += losses * dt_s
    s.q_dissipated_j += (loads_w + losses) * dt_s
    s.q_absorbed_j += (float(np.add.reduce(panel_abs)) + av_abs) * dt_s
    s.q_radiated_j += (sol.radiated_total_w + av_rad) * dt_s
    s.q_leaked_j += q_leak
    s.t_us += int(round(dt_s * 1e6))
    s.tick += 1

"""The slow interval: nodes with time constants of minutes to hours, and the sampled inputs.

Once per ``SLOW_INTERVAL_S`` of simulated time (or every step, for steps at least that long), the
heat the fast path booked into the transit accumulators is applied, over the whole interval, to
the coolant loops and radiator panels (one implicit star solve per loop), the array wings, and
the battery strings with the avionics plate; then the workload sample, heater thermostats,
automatic load shedding, pump flows and the cold-plate coefficients are renewed for the next
interval. Why this is accurate: the fastest slow node (a loop, τ = C/G ≈ 70 s; a nearly empty
loop has lost its pump prime, hence its coupling) changes by a few percent over 10 s, and every
joule is applied exactly once, so the books close.
"""

from __future__ import annotations

import math

import numpy as np

from twin.model import compute, electrical, thermal
from twin.model.loads import auto_shed
from twin.model.orbit import EARTH_ALBEDO, EARTH_IR_W_M2
from twin.model.params import Params
from twin.model.state import HEATER_AUTO, HEATER_ON, Inputs, PlantState

SLOW_INTERVAL_S = 10.0
HARDWARE_CAPACITY_FRACTION = 0.05  # pipes, pump and accumulator: 5 % of the coolant's capacity


def loop_heat_capacity_j_k(p: Params, inventory_kg: np.ndarray) -> np.ndarray:
    return (inventory_kg + HARDWARE_CAPACITY_FRACTION * p.inventory_kg) * p.cp


def accumulate_environment(p: Params, s: PlantState, env: object, dt_s: float) -> None:
    """Add this tick's environmental loads (per m² of each surface) to the slow accumulators."""
    flux = env.flux_w_m2  # type: ignore[attr-defined]
    sr, st, sn = env.sun_r, env.sun_t, env.sun_n  # type: ignore[attr-defined]
    alb = EARTH_ALBEDO * env.flux_full_w_m2 * env.albedo_factor  # type: ignore[attr-defined]
    pn, an = p.panel_normal_list, p.av_normal_list
    s.acc_sun_panel += flux * abs(pn[0] * sr + pn[1] * st + pn[2] * sn) * dt_s
    s.acc_av_sun += flux * max(0.0, an[0] * sr + an[1] * st + an[2] * sn) * dt_s
    s.acc_alb += alb * dt_s
    ff, fb = env.array_f_front, env.array_f_back  # type: ignore[attr-defined]
    s.acc_wing_env += (p.array_alpha * alb * ff
                       + EARTH_IR_W_M2 * (p.array_eps_front * ff + p.array_eps_back * fb)) * dt_s
    cos = s.wing_cos_inc
    for w in range(p.n_wings):
        s.acc_wing_sun[w] += flux * (float(cos[w]) if s.any_stuck else 1.0) * dt_s


def solve_loop_panels(
    dt_s: float, loop_k: np.ndarray, c_loop: np.ndarray, q_in_w: np.ndarray,
    panel_k: np.ndarray, c_panel: float, g_panel: np.ndarray, panel_loop: np.ndarray,
    panel_abs_w: np.ndarray, panel_k4: np.ndarray, sink_k: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Implicit step of each loop (hub) and its panels (leaves); radiation linearised.

    panel: (C_r/Δt + G + h)·Tr' = C_r/Δt·Tr + Q_abs − e0 + h·Tr + G·Tl'  →  Tr' = γ + δ·Tl'
    loop:  (C_l/Δt + ΣG(1 − δ))·Tl' = C_l/Δt·Tl + Q_in + ΣG·γ
    Returns (loop temperatures, panel temperatures, radiated power per panel, mean over Δt).
    """
    n = loop_k.shape[0]
    e0, h = thermal.radiation_linear(panel_k4, panel_k, sink_k)
    cr = c_panel / dt_s
    a_r = cr + g_panel + h
    gamma = (cr * panel_k + panel_abs_w - e0 + h * panel_k) / a_r
    delta = g_panel / a_r
    cl = c_loop / dt_s
    lhs = cl + np.bincount(panel_loop, g_panel * (1.0 - delta), n)
    rhs = cl * loop_k + q_in_w + np.bincount(panel_loop, g_panel * gamma, n)
    tl = rhs / lhs
    tr = gamma + delta * tl[panel_loop]
    return tl, tr, e0 + h * (tr - panel_k)


def die_plate_coefficients(p: Params, s: PlantState, dt_s: float) -> None:
    """Per-GPU constants of the implicit die/plate step for this Δt and loop temperature."""
    cd, cp = p.die_c_j_k / dt_s, p.plate_c_j_k / dt_s
    a_d = cd + p.g_jc_w_k
    k1 = p.g_jc_w_k / a_d
    g_gpu = np.repeat(np.array(s.g_plate_loop), p.gpus_per_loop)
    s.dp_g_gpu = g_gpu
    s.dp_inv_ap = 1.0 / (cp + p.g_jc_w_k + g_gpu - p.g_jc_w_k * k1)
    s.dp_bias = g_gpu * s.loop_k[p.gpu_loop]
    s.dp_g_tl_sum = [s.g_plate_loop[i] * float(s.loop_k[i]) * p.gpus_per_loop
                     for i in range(p.n_loops)]
    s.dp_k1 = k1
    s.dp_inv_ad = 1.0 / a_d
    s.dp_dt_s = dt_s


def slow_update(p: Params, s: PlantState, u: Inputs) -> None:
    dt_m = s.acc_dt_s
    if dt_m > 0.0:
        _apply_interval(p, s, u, dt_m)
    _renew_samples(p, s, u, dt_m)
    s.slow_dirty = False


def _apply_interval(p: Params, s: PlantState, u: Inputs, dt_m: float) -> None:
    # Array wings: absorbed sunlight and Earth loads in, electricity and radiation out.
    a = p.wing_area_m2
    absorbed = np.array([(p.array_alpha * s.acc_wing_sun[w] + s.acc_wing_env) * a / dt_m
                         for w in range(p.n_wings)])
    elec = np.array(s.acc_wing_elec_j) / dt_m
    s.wing_temp_k = electrical.array_temp_step(p, s.wing_temp_k, absorbed, elec, dt_m)

    # Coolant leaks carry their heat away with them.
    q_leak = 0.0
    if s.leak_kg_s.any():
        leaked = np.minimum(s.leak_kg_s * dt_m, s.inventory_kg)
        q_leak = float(np.dot(leaked, s.loop_k)) * p.cp
        s.inventory_kg = s.inventory_kg - leaked

    # Panels move towards their command unless jammed.
    frac, target = s.panel_deploy_frac, u.panel_deploy.astype(float)
    if (frac != target).any():
        step = dt_m / p.deploy_time_s
        moved = np.minimum(np.maximum(target, frac - step), frac + step)
        s.panel_deploy_frac = np.where(s.panel_stuck, frac, moved)
    area = p.panel_area_m2 * (p.stowed_frac + (1.0 - p.stowed_frac) * s.panel_deploy_frac)
    eps = p.panel_eps * s.panel_eps_factor
    f2 = p.panel_earth_f2
    panel_abs = area * (p.panel_alpha * (s.acc_sun_panel + s.acc_alb * f2) / dt_m
                        + eps * (EARTH_IR_W_M2 * f2))
    panel_k4 = eps * area * (2.0 * p.fin_eff * p.sigma)
    q_in = np.array(s.acc_loop_j) / dt_m
    g_panel = np.repeat(np.array(s.g_panel_loop), p.panels_per_loop)
    tl, tr, rad = solve_loop_panels(
        dt_m, s.loop_k, loop_heat_capacity_j_k(p, s.inventory_kg), q_in, s.panel_k,
        p.panel_c_j_k, g_panel, p.panel_loop, panel_abs, panel_k4, p.sink_k)
    s.loop_k, s.panel_k, s.panel_heat_w = tl, tr, rad
    s.loop_heat_in_w = q_in
    rise = np.where(s.loop_flow_kg_s > 0.0,
                    q_in / np.maximum(s.loop_flow_kg_s * p.cp, 1e-12) * 0.5, 0.0)
    s.supply_k, s.return_k = tl - rise, tl + rise

    # Battery strings and the avionics plate.
    av_abs = p.av_area_m2 * (p.av_alpha * (s.acc_av_sun + s.acc_alb * p.av_earth_f) / dt_m
                             + p.av_eps * EARTH_IR_W_M2 * p.av_earth_f)
    s.batt_temp_k, s.av_k, av_rad = thermal.solve_avionics(
        dt_m, s.batt_temp_k, p.batt_c_j_k, np.array(s.acc_batt_j) / dt_m, p.batt_g_w_k,
        s.av_k, p.av_c_j_k, s.acc_av_j / dt_m + av_abs, p.av_eps * p.sigma * p.av_area_m2,
        p.sink_k)

    s.q_absorbed_j += (float(panel_abs.sum()) + av_abs) * dt_m
    s.q_radiated_j += (float(rad.sum()) + av_rad) * dt_m
    s.q_leaked_j += q_leak
    reset_accumulators(p, s)


def reset_accumulators(p: Params, s: PlantState) -> None:
    s.acc_dt_s = 0.0
    s.acc_loop_j = [0.0] * p.n_loops
    s.acc_batt_j = [0.0] * p.n_strings
    s.acc_av_j = 0.0
    s.acc_wing_elec_j = [0.0] * p.n_wings
    s.acc_wing_sun = [0.0] * p.n_wings
    s.acc_wing_env = 0.0
    s.acc_sun_panel = 0.0
    s.acc_alb = 0.0
    s.acc_av_sun = 0.0


def _renew_samples(p: Params, s: PlantState, u: Inputs, dt_m: float) -> None:
    t_s = s.t_us / 1e6
    # Heater thermostats with hysteresis, overridden by command or a welded relay.
    b_k = s.batt_temp_k
    auto_on = (b_k < p.heater_on_k) | (s.heater_on & (b_k <= p.heater_off_k))
    mode = u.heater_mode
    heater = np.where(mode == HEATER_AUTO, auto_on, mode == HEATER_ON)
    s.heater_on = heater | s.heater_stuck
    auto_shed(p, s, t_s)
    # Workload sample for the next interval.
    if dt_m > 0.0:
        s.util_noise = compute.noise_step(p, s.util_noise, s.rng, dt_m)
    util = s.util_noise + compute.profile_utilisation(p, t_s)
    s.gpu_util = np.minimum(np.maximum(util, 0.0), 1.0)
    # Pumps: flow from speed, wear and prime (lost when the loop runs low).
    half = 0.5 * p.min_inventory_frac
    flow = []
    for i in range(p.n_loops):
        prime = min(1.0, max(0.0, (float(s.inventory_kg[i]) / p.inventory_kg - half) / half))
        speed = 0.0 if s.pump_failed[i] else float(u.pump_speed[i])
        flow.append(p.flow_nominal_kg_s * speed * float(s.pump_health[i]) * prime)
    s.loop_flow_kg_s = np.array(flow)
    s.g_plate_loop = [thermal.exchanger_g(f / p.gpus_per_loop, p.cp, p.plate_ua_w_k)
                      for f in flow]
    s.g_panel_loop = [thermal.exchanger_g(f / p.panels_per_loop, p.cp, p.panel_ua_w_k)
                      for f in flow]
    s.dp_dt_s = math.nan  # recompute the die/plate coefficients at the next tick
    # Array wings: power per unit flux, from cell temperature and working strings.
    k = p.wing_area_m2 * p.array_eta * (1.0 - p.array_degradation)
    tf = 1.0 + p.array_tc_per_k * (s.wing_temp_k - p.array_tref_k)
    s.wing_factor = (k * np.maximum(tf, 0.0) * s.strings_ok_frac).tolist()
    # Plain-float copies of per-string values for the per-tick battery loop.
    s.n_series_list = s.n_series.tolist()
    s.online_list = s.string_online.tolist()
    s.capacity_list = s.capacity_factor.tolist()
    s.leak_list = s.leak_a.tolist()
    s.loads_dirty = True  # the next tick draws the renewed loads

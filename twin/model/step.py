"""One plant step, split by time scale so that a day of 1 s steps costs seconds.

Every tick (``advance``): the Sun on the arrays, the power balance of bus, battery strings
(equivalent circuit, CC-CV charge, discharge limits, undervoltage shedding) and the GPU die and
cold-plate temperatures, implicit against the coolant loop temperature, with thermal throttling
and shutdown checked on every tick.

Every slow interval (``SLOW_INTERVAL_S`` of simulated time, or every tick when the step is
longer; :mod:`twin.model.slow`): the nodes with time constants of minutes to hours (coolant loops
and radiator panels, array wings, battery strings and avionics plate) take one implicit step over
the interval with the heat that the fast path delivered to them, exactly as booked; the workload
sample, heater thermostats, automatic load shedding and pump flows are renewed. Heat on its way
from a fast node to a slow one is held in "transit" accumulators, counted in the books, so the
heat book closes at every tick, not only at interval ends.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from twin.model import electrical, slow
from twin.model.loads import compute_loads, effective_shed_level
from twin.model.params import Params
from twin.model.state import Inputs, PlantState

__all__ = ["EnvRow", "advance", "effective_shed_level", "internal_energy_j", "stored_energy_j"]

SLOW_INTERVAL_S = slow.SLOW_INTERVAL_S
HARDWARE_CAPACITY_FRACTION = slow.HARDWARE_CAPACITY_FRACTION
loop_heat_capacity_j_k = slow.loop_heat_capacity_j_k


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


def internal_energy_j(p: Params, s: PlantState) -> float:
    """Σ C·T over every body node (K reference) plus heat in transit to the slow nodes."""
    return float(
        p.die_c_j_k * s.die_k.sum()
        + p.plate_c_j_k * s.plate_k.sum()
        + np.dot(loop_heat_capacity_j_k(p, s.inventory_kg), s.loop_k)
        + p.panel_c_j_k * s.panel_k.sum()
        + p.batt_c_j_k * s.batt_temp_k.sum()
        + p.av_c_j_k * s.av_k
        + sum(s.acc_loop_j) + sum(s.acc_batt_j) + s.acc_av_j
    )


def stored_energy_j(p: Params, s: PlantState) -> float:
    return float(electrical.stored_energy_j(p, s.soc, s.capacity_factor, s.shorted_cells).sum())


def refresh_derived(p: Params, s: PlantState) -> None:
    """Recompute the state's cached fault-derived values (after faults or latches change)."""
    s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
    s.gpu_base_w = p.gpu_idle_w + s.gpu_runaway_w
    s.n_series = (p.cells_series - s.shorted_cells).astype(float)
    s.strings_ok_frac = 1.0 - s.wing_strings_failed / p.strings_per_wing
    s.any_stuck = bool(s.wing_stuck.any())
    if not s.any_stuck:
        s.wing_cos_inc = np.ones(p.n_wings)
    s.any_leak = bool(s.leak_a.any() or s.leak_kg_s.any())
    s.loads_dirty = True
    s.slow_dirty = True


def cell_ocv_v(p: Params, soc: float) -> float:
    """Cell OCV from the table, linear between points, clamped at the ends."""
    xs = p.ocv_soc_list
    k = min(max(bisect_right(xs, soc) - 1, 0), len(xs) - 2)
    x = min(max(soc, 0.0), 1.0)
    return p.ocv_v_list[k] + (x - xs[k]) * p.ocv_slope_list[k]


def advance(p: Params, s: PlantState, u: Inputs, dt_s: float, env: EnvRow) -> None:
    """One step of ``dt_s`` in place."""
    key = u.key()
    if key != s.inputs_key:  # a command changed: renew everything that depends on commands
        s.inputs_key = key
        s.slow_dirty = True
    if s.slow_dirty:  # faults or commands changed: close the interval early
        slow.slow_update(p, s, u)
    t_s = s.t_us / 1e6
    flux = env.flux_w_m2

    # --- thermal protection: slowdown changes the clocks, shutdown latches -----------------
    hottest = float(np.maximum.reduce(s.die_k))
    if hottest >= p.slowdown_k or s.was_hot:
        if hottest >= p.shutdown_k:
            s.gpu_shutdown = s.gpu_shutdown | (s.die_k >= p.shutdown_k)
            s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
        s.was_hot = hottest >= p.slowdown_k
        s.loads_dirty = True
    if s.loads_dirty:
        compute_loads(p, s, u)

    # --- solar array -----------------------------------------------------------------------
    factors = s.wing_factor
    if s.any_stuck:
        cos = [1.0] * p.n_wings
        for w in range(p.n_wings):
            if s.wing_stuck[w]:
                n = s.wing_stuck_normal[w]
                cos[w] = max(0.0, float(n[0]) * env.sun_r + float(n[1]) * env.sun_t
                             + float(n[2]) * env.sun_n)
        mpp = [flux * factors[w] * cos[w] for w in range(p.n_wings)]
        s.wing_cos_inc = np.array(cos)
    else:
        mpp = [flux * f for f in factors]
    available_w = sum(mpp) * p.regulator_eff

    # --- power balance: bus, battery, undervoltage shedding ----------------------------------
    soc = s.soc.tolist()
    v1 = s.v1.tolist()
    ns = s.n_series_list
    online = s.online_list
    nb = p.n_strings
    ocv = [cell_ocv_v(p, soc[i]) * ns[i] for i in range(nb)]
    e = [ocv[i] - v1[i] for i in range(nb)]
    r0 = [p.cell_r0 * ns[i] for i in range(nb)]
    max_dis: list[float] | None = None
    supply_max = math.inf
    while True:
        loads_w = s.bus_load_w
        demand_w = loads_w / p.dist_eff
        if demand_w <= available_w:
            break
        if max_dis is None:
            max_dis = []
            for i in range(nb):
                i_v = min(max((e[i] - p.v_min_cell * ns[i]) / r0[i], 0.0), p.i_discharge_max_a)
                max_dis.append((e[i] - r0[i] * i_v) * i_v if online[i] else 0.0)
            supply_max = available_w + sum(max_dis) * p.bdr_eff
        level = effective_shed_level(p, s, u)
        if demand_w <= supply_max or level >= p.max_shed_level:
            break
        s.shed_level_auto = max(s.shed_level_auto, level) + 1  # undervoltage: shed at once
        s.shed_changed_s = t_s
        compute_loads(p, s, u)
    s.undervoltage = demand_w > supply_max
    brown = supply_max / demand_w if s.undervoltage else 1.0
    if s.undervoltage:  # nothing left to shed: the bus sags and every load gets its share
        loads_w *= brown
        demand_w *= brown
    if available_w >= demand_w:
        surplus = available_w - demand_w
        chg = []
        for i in range(nb):
            i_max = min(max((p.v_cutoff_cell * ns[i] - e[i]) / r0[i], 0.0), p.i_charge_max_a)
            chg.append((e[i] + r0[i] * i_max) * i_max / p.bcr_eff if online[i] else 0.0)
        total = sum(chg)
        charge_bus = min(surplus, total)
        k = -(charge_bus / total) * p.bcr_eff if total > 0.0 else 0.0
        term = [c * k for c in chg]
        conv_loss = charge_bus * (1.0 - p.bcr_eff)
        used_w = demand_w + charge_bus
        s.shunt_w = surplus - charge_bus
    else:
        assert max_dis is not None
        total = sum(max_dis)
        term_total = min((demand_w - available_w) / p.bdr_eff, total)
        k = term_total / total if total > 0.0 else 0.0
        term = [m * k for m in max_dis]
        conv_loss = term_total * (1.0 - p.bdr_eff)
        used_w = available_w
        s.shunt_w = 0.0
    decay = math.exp(-dt_s / p.tau1_s)
    leak = s.leak_list
    current = [0.0] * nb
    volts = [0.0] * nb
    batt_loss = 0.0
    acc_b = s.acc_batt_j
    heater_w = p.heater_w * brown
    for i in range(nb):
        pw, ei = term[i], e[i]
        cur = 2.0 * pw / (ei + math.sqrt(ei * ei - 4.0 * r0[i] * pw)) if pw != 0.0 else 0.0
        loss = (v1[i] + r0[i] * cur) * cur + ocv[i] * leak[i]
        batt_loss += loss
        acc_b[i] += (loss + (heater_w if s.heater_on[i] else 0.0)) * dt_s
        current[i] = cur
        volts[i] = ei - r0[i] * cur
        soc[i] -= (cur + leak[i]) * dt_s / (p.capacity_as * s.capacity_list[i])
        v1[i] = v1[i] * decay + cur * p.cell_r1 * ns[i] * (1.0 - decay)
    if s.any_leak:
        soc = [min(max(x, 0.0), 1.0) for x in soc]
    s.soc = np.array(soc)
    s.v1 = np.array(v1)
    s.batt_current_a = np.array(current)
    s.batt_voltage_v = np.array(volts)

    generated_w = used_w / p.regulator_eff
    reg_loss = generated_w - used_w
    dist_loss = demand_w - loads_w
    s.array_available_w = available_w
    s.array_used_w = used_w
    s.bus_voltage_v = p.bus_v * brown
    share = used_w / available_w if available_w > 0.0 else 0.0
    acc_w = s.acc_wing_elec_j
    for w in range(p.n_wings):
        acc_w[w] += mpp[w] * share * dt_s
    s.wing_mpp_w = np.array(mpp)
    s.wing_power_w = s.wing_mpp_w * share
    s.acc_av_j += (p.avionics_w * brown + reg_loss + dist_loss + conv_loss) * dt_s

    # --- GPU dies and cold plates, implicit against the loop temperature ---------------------
    gpu_w = s.gpu_power_w if not s.undervoltage else s.gpu_power_w * brown
    if dt_s != s.dp_dt_s:
        slow.die_plate_coefficients(p, s, dt_s)
    cd = p.die_c_j_k / dt_s
    rhs_d = s.die_k * cd + gpu_w
    tp = (s.plate_k * (p.plate_c_j_k / dt_s) + rhs_d * s.dp_k1 + s.dp_bias) * s.dp_inv_ap
    s.die_k = (rhs_d + tp * p.g_jc_w_k) * s.dp_inv_ad
    s.plate_k = tp
    to_loop = np.add.reduce((tp * s.dp_g_gpu).reshape(p.n_loops, -1), axis=1).tolist()
    direct = s.loop_direct_w
    acc_l = s.acc_loop_j
    for i in range(p.n_loops):
        acc_l[i] += (to_loop[i] - s.dp_g_tl_sum[i] + direct[i] * brown) * dt_s

    # --- books and time ----------------------------------------------------------------------
    losses = reg_loss + dist_loss + conv_loss + batt_loss
    s.e_generated_j += generated_w * dt_s
    s.e_loads_j += loads_w * dt_s
    s.e_losses_j += losses * dt_s
    s.q_dissipated_j += (loads_w + losses) * dt_s
    s.acc_dt_s += dt_s
    slow.accumulate_environment(p, s, env, dt_s)
    s.t_us += round(dt_s * 1e6)
    s.tick += 1
    if s.acc_dt_s >= SLOW_INTERVAL_S - 1e-9:
        slow.slow_update(p, s, u)

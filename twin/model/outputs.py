"""Every observable quantity of the plant at the current tick, in SI units, by name.

The step keeps only what the dynamics need; what a person reads (a wing's voltage, a GPU's state
code, delivered PFLOP/s, the energy-book residuals) is derived here on demand, so stepping fast
and reading everything stay separate. Keys are the names the channel catalogue maps to paths.
"""

from __future__ import annotations

import numpy as np

from twin.model.params import Params
from twin.model.state import (
    GPU_FAILED,
    GPU_NOMINAL,
    GPU_OFF,
    GPU_POWER_CAPPED,
    GPU_SHUTDOWN,
    GPU_THROTTLED,
    Inputs,
    PlantState,
)
from twin.model.step import effective_shed_level, internal_energy_j, stored_energy_j


def gpu_states(p: Params, s: PlantState) -> np.ndarray:
    state = np.full(p.n_gpus, GPU_NOMINAL, dtype=np.int8)
    state[s.rack_cap_frac[p.gpu_rack] < 1.0] = GPU_POWER_CAPPED
    state[s.die_k >= p.slowdown_k] = GPU_THROTTLED
    state[~s.gpu_running] = GPU_OFF
    state[s.gpu_shutdown] = GPU_SHUTDOWN
    state[s.gpu_failed] = GPU_FAILED
    return state


def books(p: Params, s: PlantState) -> dict[str, float]:
    """Energy books since t = 0 and their residuals (J and % of the throughput)."""
    d_stored = stored_energy_j(p, s) - s.e_stored0_j
    e_res = s.e_generated_j - s.e_loads_j - s.e_losses_j - d_stored - s.e_fault_j
    d_u = internal_energy_j(p, s) - s.u0_j
    q_in = s.q_dissipated_j + s.q_absorbed_j
    q_res = q_in - s.q_radiated_j - s.q_leaked_j - d_u
    return {
        "e_generated_j": s.e_generated_j, "e_loads_j": s.e_loads_j, "e_losses_j": s.e_losses_j,
        "e_stored_change_j": d_stored, "e_fault_j": s.e_fault_j, "e_residual_j": e_res,
        "e_residual_pct": 100.0 * e_res / max(s.e_generated_j, 1.0),
        "q_dissipated_j": s.q_dissipated_j, "q_absorbed_j": s.q_absorbed_j,
        "q_radiated_j": s.q_radiated_j, "q_leaked_j": s.q_leaked_j, "q_stored_change_j": d_u,
        "q_residual_j": q_res, "q_residual_pct": 100.0 * q_res / max(q_in, 1.0),
    }


def outputs(p: Params, s: PlantState, u: Inputs, illumination: float,
            beta_rad: float, flux_w_m2: float) -> dict[str, np.ndarray | float]:
    """All observables by name; arrays in component order, SI units."""
    clock = s.gpu_clock_frac * s.gpu_running
    util = s.gpu_util * s.gpu_running
    states = gpu_states(p, s)
    vmp = p.array_vmp_v * (1.0 + p.array_vtc_per_k * (s.wing_temp_k - p.array_tref_k))
    wing_on = s.wing_power_w > 0.0
    online = s.string_online
    cap_w = s.capacity_factor * online
    soc_total = float(np.dot(s.soc, cap_w) / cap_w.sum()) if cap_w.sum() > 0 else 0.0
    b = books(p, s)
    pflops = float(p.peak_tflops * 1e-3 * np.dot(util, clock))
    return {
        "time_s": s.t_us / 1e6,
        "sunlit": float(illumination > 0.5),
        "illumination": illumination,
        "beta_rad": beta_rad,
        "solar_flux_w_m2": flux_w_m2,
        "wing_power_w": s.wing_power_w,
        "wing_mpp_w": s.wing_mpp_w,
        "wing_voltage_v": np.where(wing_on, vmp, 0.0),
        "wing_current_a": np.where(wing_on, s.wing_power_w / vmp, 0.0),
        "wing_temp_k": s.wing_temp_k,
        "wing_incidence_rad": np.arccos(np.clip(s.wing_cos_inc, -1.0, 1.0)),
        "wing_strings_ok": (p.strings_per_wing - s.wing_strings_failed).astype(float),
        "wing_drive_stuck": s.wing_stuck.astype(float),
        "array_available_w": s.array_available_w,
        "array_power_w": s.array_used_w / p.regulator_eff,
        "batt_soc": s.soc,
        "batt_voltage_v": s.batt_voltage_v,
        "batt_current_a": s.batt_current_a,
        "batt_temp_k": s.batt_temp_k,
        "batt_heater_on": s.heater_on.astype(float),
        "batt_online": online.astype(float),
        "batt_heater_mode": u.heater_mode.astype(float),
        "batt_soc_total": soc_total,
        "batt_power_w": float(np.dot(s.batt_voltage_v, s.batt_current_a)),
        "bus_voltage_v": s.bus_voltage_v,
        "bus_current_a": s.bus_load_w / p.dist_eff / max(s.bus_voltage_v, 1e-9),
        "bus_load_w": s.bus_load_w,
        "bus_shunt_w": s.shunt_w,
        "bus_undervoltage": float(s.undervoltage),
        "shed_level": float(effective_shed_level(p, s, u)),
        "shed_level_cmd": float(u.shed_level_cmd),
        "rack_on": s.rack_on.astype(float),
        "rack_tripped": (s.lcl_tripped | s.lcl_fault).astype(float),
        "rack_current_a": s.rack_power_w / p.bus_v,
        "rack_enabled": u.rack_enabled.astype(float),
        "rack_power_cap_w": np.where(np.isfinite(u.rack_cap_w), u.rack_cap_w, 0.0),
        "rack_power_w": s.rack_power_w,
        "gpu_temp_k": s.die_k,
        "gpu_power_w": s.gpu_power_w,
        "gpu_util": util,
        "gpu_clock_mhz": clock * p.f_max_mhz,
        "gpu_state": states.astype(float),
        "pflops": pflops,
        "compute_power_w": float(s.rack_power_w.sum()),
        "gpu_hottest_k": float(s.die_k.max()),
        "gpus_nominal": float(np.count_nonzero(states == GPU_NOMINAL)),
        "gpus_throttled": float(np.count_nonzero((states == GPU_THROTTLED)
                                                 | (states == GPU_POWER_CAPPED))),
        "gpus_failed": float(np.count_nonzero((states == GPU_FAILED)
                                              | (states == GPU_SHUTDOWN))),
        "gpus_off": float(np.count_nonzero(states == GPU_OFF)),
        "loop_supply_k": s.supply_k,
        "loop_return_k": s.return_k,
        "loop_flow_kg_s": s.loop_flow_kg_s,
        "loop_inventory_kg": s.inventory_kg,
        "loop_heat_w": s.loop_heat_in_w,
        "pump_speed": u.pump_speed.astype(float),
        "pump_power_w": s.pump_power_w,
        "pump_running": (~s.pump_failed & (u.pump_speed > 0)).astype(float),
        "panel_temp_k": s.panel_k,
        "panel_heat_w": s.panel_heat_w,
        "panel_deployed": s.panel_deploy_frac,
        "panel_deploy_cmd": u.panel_deploy.astype(float),
        "radiator_heat_w": float(s.panel_heat_w.sum()),
        "avionics_temp_k": s.av_k,
        "e_residual_pct": b["e_residual_pct"],
        "q_residual_pct": b["q_residual_pct"],
        "e_generated_j": b["e_generated_j"],
        "q_radiated_j": b["q_radiated_j"],
    }

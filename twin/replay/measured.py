"""A plant started from a recorded frame: forking a recording of real boards (no seed).

Each state the catalogue measures is set from the frame (display units back to SI through the
catalogue's own scale and offset); every other dynamic state keeps the model's initial value and
is reported as estimated. The energy books restart at the fork (their baselines are recomputed).
"""

from __future__ import annotations

import numpy as np

from twin.catalogue import Catalogue
from twin.model.plant import Plant
from twin.model.slow import reset_accumulators
from twin.model.state import GPU_FAILED, GPU_SHUTDOWN
from twin.model.step import internal_energy_j, refresh_derived, stored_energy_j

# catalogue output key → plant state field it measures directly (SI after scale/offset)
DIRECT = {
    "wing_temp_k": "wing_temp_k",
    "batt_soc": "soc",
    "batt_temp_k": "batt_temp_k",
    "gpu_temp_k": "die_k",
    "loop_supply_k": "supply_k",
    "loop_return_k": "return_k",
    "loop_inventory_kg": "inventory_kg",
    "panel_temp_k": "panel_k",
    "panel_deployed": "panel_deploy_frac",
}
# the catalogue output keys this module sets a state or an input from
KNOWN = {*DIRECT, "avionics_temp_k", "batt_online", "pump_running", "rack_tripped", "gpu_state",
         "wing_strings_ok", "wing_drive_stuck", "rack_enabled", "rack_power_cap_w", "pump_speed",
         "panel_deploy_cmd", "batt_heater_mode", "shed_level_cmd"}
# dynamic states no channel measures: they keep the model's initial values
ESTIMATED = ("plate_k (GPU cold plates: set to the die temperature)",
             "loop_k (coolant bulk: mean of supply and return)",
             "v1 (battery polarisation voltage: 0)", "av_k (avionics, when not recorded)",
             "capacity_factor, shorted_cells, leak_a (battery degradation: nominal)",
             "pump_health (1 unless the pump is not running)", "leak_kg_s (0)",
             "gpu_runaway_w (0)", "util_noise (0)", "rng (the config's seed)",
             "wing_stuck_normal (array drive stuck: current Sun direction)")


def start_from_frame(plant: Plant, catalogue: Catalogue, frame: np.ndarray, t_s: float
                     ) -> tuple[list[str], list[str]]:
    """Set ``plant`` to the recorded ``frame`` at ``t_s``; returns (measured, estimated) states."""
    cp = plant.checkpoint()
    s, inp, p = cp.state, cp.inputs, plant.params
    raw: dict[str, np.ndarray] = {}
    start = 0
    for g, count in catalogue.groups:
        vals = np.asarray(frame[start:start + count], dtype=np.float64)
        raw[g.key] = (vals - g.offset) / g.scale
        start += count
    # a board offline or not heard yet at that instant leaves NaN: those states stay estimated
    unknown = [k for k, v in raw.items() if not np.all(np.isfinite(v))]
    for k in unknown:
        del raw[k]
    measured: list[str] = []
    for key, field in DIRECT.items():
        if key in raw:
            cur = getattr(s, field)
            setattr(s, field, raw[key].astype(cur.dtype).reshape(cur.shape))
            measured.append(field)
    s.plate_k = s.die_k.copy()
    s.loop_k = 0.5 * (s.supply_k + s.return_k)
    if "avionics_temp_k" in raw:
        s.av_k = float(raw["avionics_temp_k"][0])
        measured.append("av_k")
    flags = {"batt_online": ("string_online", 0.5), "pump_running": None,
             "rack_tripped": ("lcl_tripped", 0.5)}
    for key, spec in flags.items():
        if key in raw and spec is not None:
            setattr(s, spec[0], raw[key] > spec[1])
            measured.append(spec[0])
    if "pump_running" in raw:
        s.pump_failed = raw["pump_running"] < 0.5
        s.pump_health = np.where(s.pump_failed, 0.0, 1.0)
        measured.append("pump_failed")
    if "gpu_state" in raw:
        st = np.rint(raw["gpu_state"]).astype(int)
        s.gpu_failed = st == GPU_FAILED
        s.gpu_shutdown = st == GPU_SHUTDOWN
        measured += ["gpu_failed", "gpu_shutdown"]
    if "wing_strings_ok" in raw:
        ok = np.rint(raw["wing_strings_ok"]).astype(np.int64)
        s.wing_strings_failed = np.maximum(0, p.strings_per_wing - ok)
        measured.append("wing_strings_failed")
    if "wing_drive_stuck" in raw:
        s.wing_stuck = raw["wing_drive_stuck"] > 0.5
        measured.append("wing_stuck")
    # standing commands
    for key, field, conv in (("rack_enabled", "rack_enabled", lambda v: v > 0.5),
                             ("rack_power_cap_w", "rack_cap_w",
                              lambda v: np.where(v > 0, v, np.inf)),
                             ("pump_speed", "pump_speed", lambda v: v),
                             ("panel_deploy_cmd", "panel_deploy", lambda v: v > 0.5),
                             ("batt_heater_mode", "heater_mode",
                              lambda v: np.rint(v).astype(np.int8))):
        if key in raw:
            setattr(inp, field, conv(raw[key]))
            measured.append(f"inputs.{field}")
    if "shed_level_cmd" in raw:
        inp.shed_level_cmd = int(round(float(raw["shed_level_cmd"][0])))
        measured.append("inputs.shed_level_cmd")
    step_us = round(plant.config.simulation.step_s * 1e6)
    s.t_us = round(t_s * 1e6)
    s.tick = s.t_us // step_us
    for name in ("e_generated_j", "e_loads_j", "e_losses_j", "e_fault_j", "q_dissipated_j",
                 "q_absorbed_j", "q_radiated_j", "q_leaked_j"):
        setattr(s, name, 0.0)
    refresh_derived(p, s)
    reset_accumulators(p, s)
    s.e_stored0_j = stored_energy_j(p, s)
    s.u0_j = internal_energy_j(p, s)
    plant.restore(cp)
    estimated = [e for e in ESTIMATED if not (e.startswith("av_k") and "av_k" in measured)]
    gone = sorted(set(unknown) & KNOWN)
    if gone:
        estimated.append("not in the frame (no reading at that instant): " + ", ".join(gone))
    return measured, estimated

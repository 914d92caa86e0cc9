"""Loads and protections: which racks are powered, what every GPU draws, limiter trips, shedding.

Called by the step whenever something that decides the load may have changed: the workload
sample (every slow interval), a GPU crossing its slowdown temperature, a command, a trip, or an
undervoltage. Between those, the loads hold (sample-and-hold), which is what makes the per-tick
path cheap.
"""

from __future__ import annotations

import numpy as np

from twin.model import compute
from twin.model.params import Params
from twin.model.state import Inputs, PlantState


def effective_shed_level(p: Params, s: PlantState, u: Inputs) -> int:
    return min(p.max_shed_level, max(u.shed_level_cmd, s.shed_level_auto))


def auto_shed(p: Params, s: PlantState, t_s: float) -> bool:
    """SOC-based shedding, one level per dwell time, hysteresis on recovery; True if changed."""
    if t_s - s.shed_changed_s < p.shed_dwell_s:
        return False
    cap = s.capacity_factor * s.string_online
    total = float(cap.sum())
    soc = float(np.dot(s.soc, cap)) / total if total > 0.0 else 0.0
    if soc < p.shed_soc and s.shed_level_auto < p.max_shed_level:
        s.shed_level_auto += 1
        s.shed_changed_s = t_s
        return True
    if soc > p.recover_soc and s.shed_level_auto > 0:
        s.shed_level_auto -= 1
        s.shed_changed_s = t_s
        return True
    return False


def fixed_loads_w(p: Params, s: PlantState, u: Inputs) -> tuple[float, list[float]]:
    """Heaters, pumps and avionics (W), and the pump powers per loop."""
    pump_w = [0.0 if s.pump_failed[i] else p.pump_w * float(u.pump_speed[i]) ** 3
              for i in range(p.n_loops)]
    heaters = float(np.count_nonzero(s.heater_on)) * p.heater_w
    return heaters + sum(pump_w) + p.avionics_w, pump_w


def compute_loads(p: Params, s: PlantState, u: Inputs) -> None:
    """Rack switching, caps, throttling and limiter trips → GPU and rack powers, bus load.

    Sets ``rack_on``, ``gpu_running``, ``gpu_clock_frac``, ``rack_cap_frac``, ``gpu_power_w``,
    ``rack_power_w``, ``bus_load_w`` and ``pump_power_w``; trips limiters of racks over their
    limit (they are off from this tick on).
    """
    if not u.rack_enabled.all():  # switching a rack off resets its latching limiter
        s.lcl_tripped = s.lcl_tripped & u.rack_enabled
    hot = s.die_k >= p.slowdown_k
    throttled = bool(hot.any())
    therm = compute.thermal_clock_frac(p, s.die_k) if throttled else p.ones_gpus
    capped = bool(np.isfinite(u.rack_cap_w).any())
    dyn_max = p.gpu_tdp_w - p.gpu_idle_w
    fixed, pump_w = fixed_loads_w(p, s, u)
    while True:
        level = effective_shed_level(p, s, u)
        rack_on = u.rack_enabled & ~s.lcl_tripped & ~s.lcl_fault
        if level:
            rack_on = rack_on & (np.arange(p.n_racks) < p.n_racks - level * p.racks_per_level)
        running = rack_on[p.gpu_rack] & s.gpu_ok
        if capped:
            cap = compute.cap_clock_frac(p, s.gpu_util, s.gpu_runaway_w, running, u.rack_cap_w)
            clock = np.minimum(therm, cap[p.gpu_rack])
        else:
            cap = p.ones_racks
            clock = therm
        if throttled or capped:
            dyn = s.gpu_util * (dyn_max * clock**p.power_exp)
        else:
            dyn = s.gpu_util * dyn_max
        gpu_w = (dyn + s.gpu_base_w) * running
        rack_w = np.add.reduce(gpu_w.reshape(p.n_racks, p.gpus_per_rack), axis=1)
        rack_w += rack_on * p.rack_overhead_w
        trip = rack_w > p.lcl_trip_w
        if trip.any():
            s.lcl_tripped = s.lcl_tripped | trip
            continue
        break
    if s.gpu_shutdown.any():  # power removed: shut-down GPUs reset
        keep = s.gpu_shutdown & rack_on[p.gpu_rack]
        if not np.array_equal(keep, s.gpu_shutdown):
            s.gpu_shutdown = keep
            s.gpu_ok = ~(s.gpu_failed | s.gpu_shutdown)
    s.rack_on = rack_on
    s.gpu_running = running
    s.gpu_clock_frac = clock
    s.rack_cap_frac = cap
    s.gpu_power_w = gpu_w
    s.rack_power_w = rack_w
    s.pump_power_w = np.array(pump_w)
    overhead = np.add.reduce((rack_on * p.rack_overhead_w).reshape(p.n_loops, -1), axis=1)
    s.loop_direct_w = [float(overhead[i]) + pump_w[i] for i in range(p.n_loops)]
    s.bus_load_w = float(np.add.reduce(rack_w)) + fixed
    s.loads_dirty = False

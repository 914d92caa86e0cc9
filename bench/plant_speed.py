"""Plant speed: simulated seconds per wall second, on one core, no recording.

Prints, for the default satellite (128 GPUs) over 24 h at 1 s steps, the wall time and the
real-time factor with its ratio to the issue's goal (20,000×) and floor (10,000×); then the
real-time factor for scaled satellites of 1,024 and 10,000 GPUs (racks, arrays, battery and
radiators scaled together so the physics stays sensible), against the goal of 1,000× at 10,000.

    .venv/bin/python bench/plant_speed.py [--hours 24] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from twin.config import load_satellite
from twin.model.plant import Plant

GOAL, FLOOR, GOAL_10K = 20_000.0, 10_000.0, 1_000.0


def scaled(cfg, gpus: int):  # type: ignore[no-untyped-def]
    """The default satellite with ``gpus`` GPUs and everything sized with it."""
    racks = gpus // cfg.compute.gpus_per_rack
    k = racks / cfg.compute.racks
    loops = cfg.thermal.coolant.loops
    panels = max(loops, int(round(cfg.thermal.radiator.panels * k / loops)) * loops)
    th = cfg.thermal
    return dataclasses.replace(
        cfg,
        compute=dataclasses.replace(cfg.compute, racks=racks),
        solar_array=dataclasses.replace(
            cfg.solar_array, area_per_wing_m2=cfg.solar_array.area_per_wing_m2 * k
        ),
        battery=dataclasses.replace(
            cfg.battery, cells_parallel=max(1, round(cfg.battery.cells_parallel * k))
        ),
        bus=dataclasses.replace(
            cfg.bus,
            avionics_power_w=cfg.bus.avionics_power_w * k,
            design_eclipse_load_w=cfg.bus.design_eclipse_load_w * k,
            voltage_v=cfg.bus.voltage_v,
        ),
        thermal=dataclasses.replace(
            th,
            coolant=dataclasses.replace(
                th.coolant,
                nominal_flow_kg_s=th.coolant.nominal_flow_kg_s * k,
                inventory_kg=th.coolant.inventory_kg * k,
                pump_power_w=th.coolant.pump_power_w * k,
            ),
            radiator=dataclasses.replace(th.radiator, panels=panels),
            avionics=dataclasses.replace(
                th.avionics,
                radiator_area_m2=th.avionics.radiator_area_m2 * k,
                heat_capacity_j_k=th.avionics.heat_capacity_j_k * k,
            ),
        ),
    )


def measure(cfg, sim_s: float, step_s: float = 1.0) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    plant = Plant(cfg)
    plant.run(60, step_s)  # warm the environment cache and allocator
    n = int(sim_s / step_s)
    t0 = time.process_time()
    plant.run(n, step_s)
    cpu = time.process_time() - t0
    return cpu, n * step_s / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--quick", action="store_true", help="1 h runs instead of 24 h")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    cfg = load_satellite().config
    hours = 1.0 if args.quick else args.hours
    cpu, rtf = measure(cfg, hours * 3600)
    print(
        f"default satellite (128 GPUs), {hours:g} h at 1 s steps: {cpu:.2f} s CPU, "
        f"{rtf:,.0f}× real time; ratio to goal {rtf / GOAL:.2f}, to floor {rtf / FLOOR:.2f}"
    )
    for gpus, sim_h in ((128, 1.0), (1024, 1.0), (10_000, 0.25)):
        c = cfg if gpus == 128 else scaled(cfg, gpus)
        n_gpus = c.compute.racks * c.compute.gpus_per_rack
        cpu, rtf = measure(c, sim_h * 3600)
        extra = f"; ratio to goal {rtf / GOAL_10K:.2f}" if gpus == 10_000 else ""
        print(f"{n_gpus:>6} GPUs: {rtf:>9,.0f}× real time ({sim_h:g} h in {cpu:.2f} s CPU){extra}")


if __name__ == "__main__":
    main()

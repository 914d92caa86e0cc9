"""Design margins of a configuration: worst eclipse, battery depth of discharge, array and radiator.

Pure functions of the config, used by the loader's consistency warnings and by the docs. The
numbers are steady-state hand calculations (the same ones a power or thermal engineer does on one
page); the plant model is the dynamic check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.model import orbit as orb

if TYPE_CHECKING:
    from twin.config import SatelliteConfig

STEFAN_BOLTZMANN = 5.670374419e-8  # W m⁻² K⁻⁴ (CODATA 2018)


@dataclass(frozen=True, slots=True)
class Margins:
    worst_eclipse_s: float
    min_abs_beta_deg: float
    period_s: float
    full_load_w: float
    compute_heat_w: float
    eclipse_energy_j: float
    battery_energy_j: float
    eclipse_dod: float
    array_power_w: float
    array_temp_c: float
    sunlit_need_w: float
    array_margin: float
    radiator_capacity_w: float
    radiator_margin: float
    rack_max_current_a: float


def build_orbit(cfg: SatelliteConfig) -> orb.CircularOrbit:
    from twin.config import inclination_rad

    o = cfg.orbit
    return orb.orbit_from_ltan(
        o.altitude_km * 1e3, inclination_rad(o), o.ltan_h, o.epoch, math.radians(o.arg_latitude_deg)
    )


def rack_full_power_w(cfg: SatelliteConfig) -> float:
    c = cfg.compute
    return c.gpus_per_rack * c.gpu_tdp_w + c.rack_overhead_w


def full_load_w(cfg: SatelliteConfig) -> float:
    """Everything on at full power, as drawn from the bus (before distribution losses)."""
    c, th = cfg.compute, cfg.thermal
    loads = c.racks * rack_full_power_w(cfg) + th.coolant.loops * th.coolant.pump_power_w
    return (loads + cfg.bus.avionics_power_w) / cfg.bus.distribution_efficiency


def battery_energy_j(cfg: SatelliteConfig) -> float:
    """Nameplate energy: strings × series × parallel × Ah × mean OCV."""
    b = cfg.battery
    mean_ocv = float(np.trapezoid(b.ocv_v, b.ocv_soc))
    return b.strings * b.cells_series * b.cells_parallel * b.cell_capacity_ah * 3600.0 * mean_ocv


def design_margins(cfg: SatelliteConfig) -> Margins:
    orbit = build_orbit(cfg)
    h_m = cfg.orbit.altitude_km * 1e3
    days = np.arange(0.0, 366.0, 1.0) * 86400.0
    beta = orb.beta_angle_rad(orbit, days)
    min_beta = float(np.min(np.abs(beta)))
    period = orbit.period_s
    worst = float(orb.eclipse_fraction(h_m, np.array([min_beta]))[0]) * period

    b, sa, bus = cfg.battery, cfg.solar_array, cfg.bus
    eclipse_j = bus.design_eclipse_load_w * worst / b.discharge_efficiency
    energy = battery_energy_j(cfg)
    dod = eclipse_j / energy

    # Array: aphelion flux, hot cells, degraded. Cell temperature from the front/back radiative
    # balance of a Sun-pointed wing: α·S = (ε_f + ε_b)·σ·T⁴ + P_elec/A (Earth loads neglected).
    s_min = orb.SOLAR_CONSTANT_W_M2 / 1.0167**2
    area = sa.wings * sa.area_per_wing_m2
    eta = sa.cell_efficiency * sa.packing_factor * (1.0 - sa.degradation_fraction)
    t_k = ((sa.absorptivity - eta) * s_min
           / ((sa.front_emissivity + sa.back_emissivity) * STEFAN_BOLTZMANN)) ** 0.25
    temp_factor = 1.0 + sa.temp_coefficient_per_k * (t_k - 273.15 - sa.reference_temp_c)
    array_w = s_min * area * eta * temp_factor * sa.regulator_efficiency
    sunlit_s = period - worst
    load = full_load_w(cfg)
    recharge = eclipse_j / b.charge_efficiency / sunlit_s if sunlit_s > 0 else math.inf
    need = load + recharge

    th = cfg.thermal
    r = th.radiator
    t_r = r.design_temp_c + 273.15
    n = np.asarray(r.normal_rtn, dtype=float)
    n = n / np.linalg.norm(n)
    faces = np.array([n, -n])
    f_earth = orb.earth_view_factor(h_m, -faces[:, 0])
    per_face = r.area_per_panel_m2 * r.fin_efficiency * r.emissivity * (
        STEFAN_BOLTZMANN * (t_r**4 - th.sink_temp_k**4) - orb.EARTH_IR_W_M2 * f_earth
    )
    radiator_w = float(r.panels * per_face.sum())
    c = cfg.compute
    heat = c.racks * rack_full_power_w(cfg) + th.coolant.loops * th.coolant.pump_power_w
    return Margins(
        worst_eclipse_s=worst,
        min_abs_beta_deg=math.degrees(min_beta),
        period_s=period,
        full_load_w=load,
        compute_heat_w=heat,
        eclipse_energy_j=eclipse_j,
        battery_energy_j=energy,
        eclipse_dod=dod,
        array_power_w=array_w,
        array_temp_c=t_k - 273.15,
        sunlit_need_w=need,
        array_margin=array_w / need - 1.0,
        radiator_capacity_w=radiator_w,
        radiator_margin=radiator_w / heat - 1.0,
        rack_max_current_a=rack_full_power_w(cfg) / cfg.bus.voltage_v,
    )

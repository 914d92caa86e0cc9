"""Plant parameters in SI units, derived once from a :class:`~twin.config.SatelliteConfig`.

The model never reads the config directly: this module is the one place where °C become K,
percent become fractions and per-cell values become per-string ones, so the step functions stay
free of unit conversions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.model import orbit as orb
from twin.model.sizing import STEFAN_BOLTZMANN, build_orbit

if TYPE_CHECKING:
    from twin.config import SatelliteConfig

C_TO_K = 273.15


@dataclass(frozen=True, slots=True, eq=False)
class Params:
    """Everything the step functions need, SI inside; arrays are read-only."""

    orbit: orb.CircularOrbit
    altitude_m: float
    sigma: float
    sink_k: float
    # solar array
    n_wings: int
    wing_area_m2: float
    strings_per_wing: int
    array_eta: float  # efficiency × packing at reference temperature, before degradation
    array_degradation: float
    array_tref_k: float
    array_tc_per_k: float
    array_vmp_v: float
    array_vtc_per_k: float
    array_alpha: float
    array_eps_front: float
    array_eps_back: float
    array_c_j_k: float  # per wing
    regulator_eff: float
    tracking: bool
    # battery (per string)
    n_strings: int
    cells_series: int
    cells_parallel: int
    capacity_as: float  # ampere-seconds of one string
    ocv_soc: np.ndarray
    ocv_v: np.ndarray  # per cell
    ocv_soc_list: list[float]
    ocv_v_list: list[float]
    ocv_slope_list: list[float]  # V per unit SOC in each table segment
    ocv_energy: np.ndarray  # ∫0^soc OCV dsoc per cell, at the ocv_soc breakpoints (V)
    cell_r0: float
    cell_r1: float
    tau1_s: float
    i_charge_max_a: float
    i_discharge_max_a: float
    bcr_eff: float
    bdr_eff: float
    v_cutoff_cell: float
    v_min_cell: float
    batt_c_j_k: float
    batt_g_w_k: float
    heater_w: float
    heater_on_k: float
    heater_off_k: float
    # bus
    bus_v: float
    bus_uv_v: float
    dist_eff: float
    avionics_w: float
    shed_soc: float
    recover_soc: float
    shed_dwell_s: float
    racks_per_level: int
    max_shed_level: int
    # compute
    n_racks: int
    gpus_per_rack: int
    n_gpus: int
    gpu_tdp_w: float
    gpu_idle_w: float
    rack_overhead_w: float
    peak_tflops: float
    f_max_mhz: float
    f_min_frac: float
    power_exp: float
    slowdown_k: float
    shutdown_k: float
    die_c_j_k: float
    plate_c_j_k: float
    g_jc_w_k: float
    plate_ua_w_k: float
    lcl_trip_a: float
    workload_profile: str
    util_mean: float
    util_amplitude: float
    util_period_s: float
    util_noise: float
    util_tau_s: float
    rack_loop: np.ndarray  # loop index of each rack
    gpu_rack: np.ndarray  # rack index of each GPU
    lcl_trip_w: float  # rack power at which its limiter trips (at nominal bus voltage)
    ones_racks: np.ndarray
    ones_gpus: np.ndarray
    gpu_loop: np.ndarray  # loop index of each GPU
    # coolant and radiators
    n_loops: int
    cp: float
    inventory_kg: float
    flow_nominal_kg_s: float
    pump_w: float
    min_inventory_frac: float
    n_panels: int
    panel_loop: np.ndarray
    panel_area_m2: float
    panel_eps: float
    panel_alpha: float
    fin_eff: float
    panel_c_j_k: float
    panel_ua_w_k: float
    panel_normal_rtn: np.ndarray
    panel_normal_list: list[float]
    panel_earth_f2: float  # F(+n) + F(−n): both faces' Earth view factors
    stowed_frac: float
    deploy_time_s: float
    # avionics
    av_c_j_k: float
    av_area_m2: float
    av_eps: float
    av_alpha: float
    av_normal_rtn: np.ndarray
    av_normal_list: list[float]
    av_earth_f: float
    initial_k: float
    initial_soc: float
    initial_batt_k: float

    @property
    def gpus_per_loop(self) -> int:
        return self.n_gpus // self.n_loops

    @property
    def panels_per_loop(self) -> int:
        return self.n_panels // self.n_loops


def _unit(vec: tuple[float, float, float]) -> np.ndarray:
    v = np.asarray(vec, dtype=float)
    return v / np.linalg.norm(v)


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def build_params(cfg: SatelliteConfig) -> Params:
    sa, b, bus, c, th = cfg.solar_array, cfg.battery, cfg.bus, cfg.compute, cfg.thermal
    h_m = cfg.orbit.altitude_km * 1e3
    cap_as = b.cell_capacity_ah * b.cells_parallel * 3600.0
    soc = np.asarray(b.ocv_soc, dtype=float)
    ocv = np.asarray(b.ocv_v, dtype=float)
    energy = np.concatenate(([0.0], np.cumsum(np.diff(soc) * (ocv[1:] + ocv[:-1]) / 2.0)))
    n_gpus = c.racks * c.gpus_per_rack
    racks_per_loop = c.racks // th.coolant.loops
    rack_loop = np.arange(c.racks) // racks_per_loop
    r, av = th.radiator, th.avionics
    pn = _unit(r.normal_rtn)
    an = _unit(av.normal_rtn)
    f2 = float(orb.earth_view_factor(h_m, np.array([-pn[0], pn[0]])).sum())
    f_av = float(orb.earth_view_factor(h_m, np.array([-an[0]]))[0])
    max_level = math.ceil(c.racks / bus.racks_per_shed_level)
    return Params(
        orbit=build_orbit(cfg),
        altitude_m=h_m,
        sigma=STEFAN_BOLTZMANN,
        sink_k=th.sink_temp_k,
        n_wings=sa.wings,
        wing_area_m2=sa.area_per_wing_m2,
        strings_per_wing=sa.strings_per_wing,
        array_eta=sa.cell_efficiency * sa.packing_factor,
        array_degradation=sa.degradation_fraction,
        array_tref_k=sa.reference_temp_c + C_TO_K,
        array_tc_per_k=sa.temp_coefficient_per_k,
        array_vmp_v=sa.mpp_voltage_v,
        array_vtc_per_k=sa.voltage_temp_coefficient_per_k,
        array_alpha=sa.absorptivity,
        array_eps_front=sa.front_emissivity,
        array_eps_back=sa.back_emissivity,
        array_c_j_k=sa.areal_heat_capacity_j_m2k * sa.area_per_wing_m2,
        regulator_eff=sa.regulator_efficiency,
        tracking=sa.tracking,
        n_strings=b.strings,
        cells_series=b.cells_series,
        cells_parallel=b.cells_parallel,
        capacity_as=cap_as,
        ocv_soc=_ro(soc),
        ocv_v=_ro(ocv),
        ocv_soc_list=soc.tolist(),
        ocv_v_list=ocv.tolist(),
        ocv_slope_list=(np.diff(ocv) / np.diff(soc)).tolist(),
        ocv_energy=_ro(energy),
        cell_r0=b.cell_r0_ohm / b.cells_parallel,
        cell_r1=b.cell_r1_ohm / b.cells_parallel,
        tau1_s=b.cell_tau1_s,
        i_charge_max_a=b.max_charge_c_rate * b.cell_capacity_ah * b.cells_parallel,
        i_discharge_max_a=b.max_discharge_c_rate * b.cell_capacity_ah * b.cells_parallel,
        bcr_eff=b.charge_efficiency,
        bdr_eff=b.discharge_efficiency,
        v_cutoff_cell=b.charge_cutoff_cell_v,
        v_min_cell=b.min_cell_v,
        batt_c_j_k=b.string_heat_capacity_j_k,
        batt_g_w_k=b.conductance_to_avionics_w_k,
        heater_w=b.heater_power_w,
        heater_on_k=b.heater_on_c + C_TO_K,
        heater_off_k=b.heater_off_c + C_TO_K,
        bus_v=bus.voltage_v,
        bus_uv_v=bus.undervoltage_v,
        dist_eff=bus.distribution_efficiency,
        avionics_w=bus.avionics_power_w,
        shed_soc=bus.shed_soc_pct / 100.0,
        recover_soc=bus.recover_soc_pct / 100.0,
        shed_dwell_s=bus.shed_dwell_s,
        racks_per_level=bus.racks_per_shed_level,
        max_shed_level=max_level,
        n_racks=c.racks,
        gpus_per_rack=c.gpus_per_rack,
        n_gpus=n_gpus,
        gpu_tdp_w=c.gpu_tdp_w,
        gpu_idle_w=c.gpu_idle_w,
        rack_overhead_w=c.rack_overhead_w,
        peak_tflops=c.gpu_peak_tflops,
        f_max_mhz=c.clock_max_mhz,
        f_min_frac=c.clock_min_mhz / c.clock_max_mhz,
        power_exp=c.power_clock_exponent,
        slowdown_k=c.slowdown_temp_c + C_TO_K,
        shutdown_k=c.shutdown_temp_c + C_TO_K,
        die_c_j_k=c.die_heat_capacity_j_k,
        plate_c_j_k=c.plate_heat_capacity_j_k,
        g_jc_w_k=1.0 / c.junction_to_plate_k_w,
        plate_ua_w_k=c.cold_plate_ua_w_k,
        lcl_trip_a=c.rack_lcl_trip_a,
        workload_profile=c.workload.profile,
        util_mean=c.workload.utilisation,
        util_amplitude=c.workload.amplitude,
        util_period_s=c.workload.period_s,
        util_noise=c.workload.noise,
        util_tau_s=c.workload.noise_tau_s,
        rack_loop=_ro(rack_loop),
        gpu_rack=_ro(np.repeat(np.arange(c.racks), c.gpus_per_rack)),
        lcl_trip_w=c.rack_lcl_trip_a * bus.voltage_v,
        ones_racks=_ro(np.ones(c.racks)),
        ones_gpus=_ro(np.ones(n_gpus)),
        gpu_loop=_ro(np.repeat(rack_loop, c.gpus_per_rack)),
        n_loops=th.coolant.loops,
        cp=th.coolant.cp_j_kgk,
        inventory_kg=th.coolant.inventory_kg,
        flow_nominal_kg_s=th.coolant.nominal_flow_kg_s,
        pump_w=th.coolant.pump_power_w,
        min_inventory_frac=th.coolant.min_inventory_fraction,
        n_panels=r.panels,
        panel_loop=_ro(np.arange(r.panels) // (r.panels // th.coolant.loops)),
        panel_area_m2=r.area_per_panel_m2,
        panel_eps=r.emissivity,
        panel_alpha=r.absorptivity,
        fin_eff=r.fin_efficiency,
        panel_c_j_k=r.areal_heat_capacity_j_m2k * r.area_per_panel_m2,
        panel_ua_w_k=r.fluid_ua_w_k,
        panel_normal_rtn=_ro(pn),
        panel_normal_list=pn.tolist(),
        panel_earth_f2=f2,
        stowed_frac=r.stowed_fraction,
        deploy_time_s=r.deploy_time_s,
        av_c_j_k=av.heat_capacity_j_k,
        av_area_m2=av.radiator_area_m2,
        av_eps=av.emissivity,
        av_alpha=av.absorptivity,
        av_normal_rtn=_ro(an),
        av_normal_list=an.tolist(),
        av_earth_f=f_av,
        initial_k=th.initial_temp_c + C_TO_K,
        initial_soc=b.initial_soc,
        initial_batt_k=b.initial_temp_c + C_TO_K,
    )

"""The satellite configuration: TOML → frozen, validated objects.

``load_satellite(path)`` returns a :class:`Loaded` holding the :class:`SatelliteConfig` and the
warnings found (e.g. a battery too small for the worst eclipse). Errors raise
:class:`~twin.errors.ConfigError` with file, key, value and what was expected. The meaning and
source of every number lives beside it in ``configs/satellite.toml``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from twin.configschema import build, param, parse_toml, read_text_file
from twin.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_SATELLITE = CONFIG_DIR / "satellite.toml"


@dataclass(frozen=True, slots=True)
class SatelliteInfo:
    name: str = param(doc="satellite name, used as a tag and in titles")
    description: str = param("", doc="free text")


@dataclass(frozen=True, slots=True)
class OrbitConfig:
    altitude_km: float = param(ge=160.0, le=2000.0, doc="circular orbit altitude above R_E")
    inclination_deg: float | str = param(
        ge=0.0, le=180.0, choices=("sun-synchronous",), doc="degrees, or 'sun-synchronous'"
    )
    ltan_h: float = param(ge=0.0, lt=24.0, doc="local time of the ascending node, hours")
    epoch: datetime = param(doc="UTC date-time at simulated t = 0")
    arg_latitude_deg: float = param(0.0, ge=0.0, lt=360.0, doc="argument of latitude at epoch")


@dataclass(frozen=True, slots=True)
class SolarArrayConfig:
    wings: int = param(ge=1, le=16, doc="number of array wings")
    area_per_wing_m2: float = param(gt=0.0, le=2000.0, doc="cell-side area of one wing")
    strings_per_wing: int = param(ge=1, le=1000, doc="parallel cell strings per wing")
    cell_efficiency: float = param(gt=0.0, lt=0.6, doc="AM0 efficiency at reference temperature")
    reference_temp_c: float = param(ge=-50.0, le=80.0, doc="temperature of the rated efficiency")
    temp_coefficient_per_k: float = param(ge=-0.02, le=0.0, doc="relative power change per K")
    packing_factor: float = param(gt=0.0, le=1.0, doc="cell area / wing area")
    degradation_fraction: float = param(ge=0.0, lt=1.0, doc="power lost to ageing at epoch")
    mpp_voltage_v: float = param(gt=0.0, le=1000.0, doc="string maximum-power voltage at ref.")
    voltage_temp_coefficient_per_k: float = param(ge=-0.02, le=0.0, doc="relative V per K")
    absorptivity: float = param(gt=0.0, le=1.0, doc="front-side solar absorptance")
    front_emissivity: float = param(gt=0.0, le=1.0, doc="front IR emittance")
    back_emissivity: float = param(gt=0.0, le=1.0, doc="back IR emittance")
    areal_heat_capacity_j_m2k: float = param(gt=0.0, doc="heat capacity per m² of wing")
    regulator_efficiency: float = param(gt=0.5, le=1.0, doc="array regulator (S3R/MPPT)")
    tracking: bool = param(True, doc="two-axis Sun tracking (false: fixed along stuck_rtn)")


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    strings: int = param(ge=1, le=32, doc="parallel strings, each with its own BCR/BDR")
    cells_series: int = param(ge=1, le=400, doc="cells in series per string")
    cells_parallel: int = param(ge=1, le=100, doc="cells in parallel per string")
    cell_capacity_ah: float = param(gt=0.0, le=1000.0, doc="rated capacity of one cell")
    ocv_soc: tuple[float, ...] = param(doc="SOC breakpoints 0..1 for the OCV table")
    ocv_v: tuple[float, ...] = param(doc="cell open-circuit voltage at each SOC breakpoint")
    cell_r0_ohm: float = param(gt=0.0, le=1.0, doc="series resistance of one cell")
    cell_r1_ohm: float = param(ge=0.0, le=1.0, doc="RC-pair resistance of one cell")
    cell_tau1_s: float = param(gt=0.0, le=10000.0, doc="RC-pair time constant")
    max_charge_c_rate: float = param(gt=0.0, le=10.0, doc="charge current limit, C")
    max_discharge_c_rate: float = param(gt=0.0, le=20.0, doc="discharge current limit, C")
    charge_efficiency: float = param(gt=0.5, le=1.0, doc="battery charge regulator (BCR)")
    discharge_efficiency: float = param(gt=0.5, le=1.0, doc="battery discharge regulator (BDR)")
    charge_cutoff_cell_v: float = param(gt=0.0, le=5.0, doc="CV phase: taper above this OCV")
    min_cell_v: float = param(gt=0.0, le=5.0, doc="discharge cut-off per cell")
    initial_soc: float = param(ge=0.0, le=1.0, doc="state of charge at t = 0")
    max_depth_of_discharge: float = param(gt=0.0, le=1.0, doc="design limit per eclipse")
    string_heat_capacity_j_k: float = param(gt=0.0, doc="thermal mass of one string")
    conductance_to_avionics_w_k: float = param(gt=0.0, doc="string ↔ avionics plate")
    heater_power_w: float = param(ge=0.0, doc="thermostatic heater, per string")
    heater_on_c: float = param(ge=-60.0, le=60.0, doc="heater switches on below")
    heater_off_c: float = param(ge=-60.0, le=60.0, doc="heater switches off above")
    initial_temp_c: float = param(ge=-60.0, le=60.0, doc="temperature at t = 0")


@dataclass(frozen=True, slots=True)
class BusConfig:
    voltage_v: float = param(gt=0.0, le=1000.0, doc="regulated main bus voltage")
    undervoltage_v: float = param(gt=0.0, le=1000.0, doc="bus undervoltage alarm/shed level")
    distribution_efficiency: float = param(gt=0.5, le=1.0, doc="PCDU switches and harness")
    avionics_power_w: float = param(ge=0.0, doc="always-on housekeeping load (OBC, radios, ADCS)")
    shed_soc_pct: float = param(ge=0.0, le=100.0, doc="auto load-shed one level below this SOC")
    recover_soc_pct: float = param(ge=0.0, le=100.0, doc="un-shed one level above this SOC")
    shed_dwell_s: float = param(ge=0.0, doc="minimum time between automatic shed steps")
    racks_per_shed_level: int = param(ge=1, doc="racks switched off per load-shed level")
    design_eclipse_load_w: float = param(gt=0.0, doc="load the battery must carry in eclipse")


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    profile: str = param(choices=("constant", "diurnal"), doc="shape of the mean utilisation")
    utilisation: float = param(ge=0.0, le=1.0, doc="mean GPU utilisation")
    amplitude: float = param(0.0, ge=0.0, le=1.0, doc="diurnal swing of utilisation")
    period_s: float = param(86400.0, gt=0.0, doc="period of the diurnal profile")
    noise: float = param(0.0, ge=0.0, le=0.5, doc="std of per-GPU utilisation noise")
    noise_tau_s: float = param(60.0, gt=0.0, doc="correlation time of that noise")


@dataclass(frozen=True, slots=True)
class ComputeConfig:
    racks: int = param(ge=1, le=1024, doc="GPU racks")
    gpus_per_rack: int = param(ge=1, le=64, doc="GPUs per rack")
    gpu_tdp_w: float = param(gt=0.0, le=5000.0, doc="board power at full clock and load")
    gpu_idle_w: float = param(ge=0.0, le=5000.0, doc="board power idle at full clock")
    rack_overhead_w: float = param(ge=0.0, doc="hosts, NICs and switches per rack")
    gpu_peak_tflops: float = param(gt=0.0, doc="dense BF16 peak per GPU at max clock")
    clock_max_mhz: float = param(gt=0.0, le=10000.0, doc="maximum boost clock")
    clock_min_mhz: float = param(gt=0.0, le=10000.0, doc="lowest clock under throttling")
    power_clock_exponent: float = param(ge=1.0, le=4.0, doc="dynamic power ∝ clock^k (DVFS)")
    slowdown_temp_c: float = param(ge=0.0, le=150.0, doc="thermal slowdown starts")
    shutdown_temp_c: float = param(ge=0.0, le=150.0, doc="thermal shutdown")
    die_heat_capacity_j_k: float = param(gt=0.0, doc="die, package and lid")
    plate_heat_capacity_j_k: float = param(gt=0.0, doc="cold plate and its coolant")
    junction_to_plate_k_w: float = param(gt=0.0, doc="die-to-cold-plate resistance")
    cold_plate_ua_w_k: float = param(gt=0.0, doc="cold plate to coolant UA")
    rack_lcl_trip_a: float = param(gt=0.0, doc="latching current limiter trip per rack")
    workload: WorkloadConfig = param(doc="workload profile")


@dataclass(frozen=True, slots=True)
class CoolantConfig:
    loops: int = param(ge=1, le=8, doc="independent pumped loops; racks and panels split evenly")
    cp_j_kgk: float = param(gt=0.0, doc="coolant specific heat")
    inventory_kg: float = param(gt=0.0, doc="coolant mass per loop")
    nominal_flow_kg_s: float = param(gt=0.0, doc="loop flow at 100 % pump speed")
    pump_power_w: float = param(ge=0.0, doc="pump electrical power at 100 % speed")
    min_inventory_fraction: float = param(gt=0.0, lt=1.0, doc="pump loses prime below this")


@dataclass(frozen=True, slots=True)
class RadiatorConfig:
    panels: int = param(ge=1, le=256, doc="deployable two-sided panels")
    area_per_panel_m2: float = param(gt=0.0, le=500.0, doc="one face of one panel")
    emissivity: float = param(gt=0.0, le=1.0, doc="IR emittance of both faces")
    absorptivity: float = param(gt=0.0, le=1.0, doc="solar absorptance")
    fin_efficiency: float = param(gt=0.0, le=1.0, doc="radiating fin efficiency")
    areal_heat_capacity_j_m2k: float = param(gt=0.0, doc="per m² of panel")
    fluid_ua_w_k: float = param(gt=0.0, doc="coolant-to-panel UA of one panel")
    normal_rtn: tuple[float, float, float] = param(doc="face normal in radial/along/normal")
    stowed_fraction: float = param(ge=0.0, le=1.0, doc="effective area when stowed")
    design_temp_c: float = param(ge=-50.0, le=120.0, doc="panel temperature for sizing checks")
    deploy_time_s: float = param(120.0, gt=0.0, doc="time to deploy or stow a panel")


@dataclass(frozen=True, slots=True)
class AvionicsConfig:
    heat_capacity_j_k: float = param(gt=0.0, doc="avionics plate and structure")
    radiator_area_m2: float = param(gt=0.0, doc="body-mounted avionics radiator")
    emissivity: float = param(gt=0.0, le=1.0, doc="IR emittance")
    absorptivity: float = param(gt=0.0, le=1.0, doc="solar absorptance")
    normal_rtn: tuple[float, float, float] = param(doc="radiator normal in radial/along/normal")


@dataclass(frozen=True, slots=True)
class ThermalConfig:
    coolant: CoolantConfig = param(doc="pumped loops")
    radiator: RadiatorConfig = param(doc="deployable panels")
    avionics: AvionicsConfig = param(doc="avionics and battery heat path")
    initial_temp_c: float = param(ge=-100.0, le=100.0, doc="loops, racks and panels at t = 0")
    sink_temp_k: float = param(3.0, ge=0.0, le=300.0, doc="deep-space background")


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    seed: int = param(0, ge=0, doc="one seed for every random stream")
    step_s: float = param(1.0, ge=0.01, le=60.0, doc="default plant step")


@dataclass(frozen=True, slots=True)
class SatelliteConfig:
    satellite: SatelliteInfo = param(doc="identity")
    orbit: OrbitConfig = param(doc="orbit")
    solar_array: SolarArrayConfig = param(doc="solar array wings")
    battery: BatteryConfig = param(doc="battery strings")
    bus: BusConfig = param(doc="power bus and PCDU")
    compute: ComputeConfig = param(doc="GPU racks")
    thermal: ThermalConfig = param(doc="thermal control")
    simulation: SimulationConfig = param(SimulationConfig(), doc="simulation defaults")
    source: str = field(default="<memory>", compare=False)


@dataclass(frozen=True, slots=True)
class Loaded:
    config: SatelliteConfig
    warnings: tuple[str, ...]


def load_satellite(path: str | Path = DEFAULT_SATELLITE) -> Loaded:
    """Read, type-check, range-check and cross-check a satellite file."""
    return parse_satellite(read_text_file(path, "satellite file"), str(path))


def parse_satellite(text: str, file: str = "<string>") -> Loaded:
    cfg = build(SatelliteConfig, parse_toml(text, file), file)
    cfg = _with_source(cfg, file)
    warnings = check_consistency(cfg, file)
    return Loaded(cfg, tuple(warnings))


def _with_source(cfg: SatelliteConfig, file: str) -> SatelliteConfig:
    import dataclasses

    return dataclasses.replace(cfg, source=file)


def inclination_rad(orbit: OrbitConfig) -> float:
    from twin.model.orbit import sun_synchronous_inclination_rad

    if isinstance(orbit.inclination_deg, str):
        return sun_synchronous_inclination_rad(orbit.altitude_km * 1e3)
    return math.radians(orbit.inclination_deg)


def check_consistency(cfg: SatelliteConfig, file: str) -> list[str]:
    """Errors for impossible combinations; warnings for risky but flyable designs."""
    b, c, bus, th = cfg.battery, cfg.compute, cfg.bus, cfg.thermal

    def err(key: str, value: object, expected: str) -> None:
        raise ConfigError(file, key, value, expected)

    soc = b.ocv_soc
    if len(soc) < 2:
        err("battery.ocv_soc", soc, "at least two SOC points (0.0 and 1.0)")
    if len(soc) != len(b.ocv_v):
        err(
            "battery.ocv_v", b.ocv_v, f"as many voltages as battery.ocv_soc has points ({len(soc)})"
        )
    if soc[0] != 0.0:
        err("battery.ocv_soc[0]", soc[0], "0.0 (the table starts empty)")
    if soc[-1] != 1.0:
        err(f"battery.ocv_soc[{len(soc) - 1}]", soc[-1], "1.0 (the table ends full)")
    for name, seq, what in (("ocv_soc", soc, "SOC points"), ("ocv_v", b.ocv_v, "voltages")):
        for i, (x, y) in enumerate(itertools.pairwise(seq)):
            if x >= y:
                err(
                    f"battery.{name}[{i + 1}]",
                    y,
                    f"strictly increasing {what}: above battery.{name}[{i}] = {x}",
                )
    if not b.ocv_v[0] <= b.min_cell_v < b.ocv_v[-1]:
        err(
            "battery.min_cell_v", b.min_cell_v, f"within the OCV table {b.ocv_v[0]}–{b.ocv_v[-1]} V"
        )
    if not b.ocv_v[0] < b.charge_cutoff_cell_v <= b.ocv_v[-1]:
        err(
            "battery.charge_cutoff_cell_v",
            b.charge_cutoff_cell_v,
            f"within the OCV table {b.ocv_v[0]}–{b.ocv_v[-1]} V",
        )
    if b.min_cell_v >= b.charge_cutoff_cell_v:
        err(
            "battery.min_cell_v",
            b.min_cell_v,
            f"below battery.charge_cutoff_cell_v ({b.charge_cutoff_cell_v})",
        )
    if bus.racks_per_shed_level > c.racks:
        err(
            "bus.racks_per_shed_level",
            bus.racks_per_shed_level,
            f"at most compute.racks ({c.racks})",
        )
    if b.heater_on_c >= b.heater_off_c:
        err("battery.heater_on_c", b.heater_on_c, f"below battery.heater_off_c ({b.heater_off_c})")
    if bus.undervoltage_v >= bus.voltage_v:
        err("bus.undervoltage_v", bus.undervoltage_v, f"below bus.voltage_v ({bus.voltage_v})")
    if bus.shed_soc_pct >= bus.recover_soc_pct:
        err(
            "bus.shed_soc_pct",
            bus.shed_soc_pct,
            f"below bus.recover_soc_pct ({bus.recover_soc_pct})",
        )
    if c.gpu_idle_w >= c.gpu_tdp_w:
        err("compute.gpu_idle_w", c.gpu_idle_w, f"below compute.gpu_tdp_w ({c.gpu_tdp_w})")
    if c.clock_min_mhz >= c.clock_max_mhz:
        err(
            "compute.clock_min_mhz",
            c.clock_min_mhz,
            f"below compute.clock_max_mhz ({c.clock_max_mhz})",
        )
    if c.slowdown_temp_c >= c.shutdown_temp_c:
        err(
            "compute.slowdown_temp_c",
            c.slowdown_temp_c,
            f"below compute.shutdown_temp_c ({c.shutdown_temp_c})",
        )
    if c.racks % th.coolant.loops:
        err("compute.racks", c.racks, f"a multiple of thermal.coolant.loops ({th.coolant.loops})")
    if th.radiator.panels % th.coolant.loops:
        err(
            "thermal.radiator.panels",
            th.radiator.panels,
            f"a multiple of thermal.coolant.loops ({th.coolant.loops})",
        )
    for key, vec in (
        ("thermal.radiator.normal_rtn", th.radiator.normal_rtn),
        ("thermal.avionics.normal_rtn", th.avionics.normal_rtn),
    ):
        if math.hypot(*vec) < 1e-9:
            err(key, vec, "a non-zero direction [radial, along-track, normal]")
    if th.initial_temp_c >= c.shutdown_temp_c:
        err("thermal.initial_temp_c", th.initial_temp_c, "below compute.shutdown_temp_c")

    warnings: list[str] = []
    from twin.model.sizing import design_margins

    m = design_margins(cfg)
    if m.eclipse_dod > b.max_depth_of_discharge:
        warnings.append(
            f"{file}: battery: the worst eclipse ({m.worst_eclipse_s / 60:.1f} min) at "
            f"bus.design_eclipse_load_w = {bus.design_eclipse_load_w:.0f} W needs a depth of "
            f"discharge of {m.eclipse_dod:.0%}, above battery.max_depth_of_discharge = "
            f"{b.max_depth_of_discharge:.0%}: the battery is too small for the eclipse"
        )
    if m.array_margin < 0.0:
        warnings.append(
            f"{file}: solar_array: hot, degraded array power {m.array_power_w / 1e3:.1f} kW is "
            f"below the sunlit need {m.sunlit_need_w / 1e3:.1f} kW (load plus recharge of the "
            f"worst eclipse): the array is undersized by {-m.array_margin:.0%}"
        )
    if m.rack_max_current_a > c.rack_lcl_trip_a:
        warnings.append(
            f"{file}: compute.rack_lcl_trip_a = {c.rack_lcl_trip_a} A is below a rack's full-load "
            f"current {m.rack_max_current_a:.1f} A: racks at full load will trip"
        )
    if m.radiator_margin < 0.0:
        warnings.append(
            f"{file}: thermal.radiator: the panels reject {m.radiator_capacity_w / 1e3:.1f} kW at "
            f"the design temperature, below the full compute heat {m.compute_heat_w / 1e3:.1f} kW"
        )
    return warnings

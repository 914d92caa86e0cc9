"""The plant's state and its command inputs: plain records of numpy arrays, SI units.

``PlantState`` holds the dynamic states (temperatures, charge, inventories), the latched
protections and fault effects, the energy books, and the outputs of the last step (powers,
currents, clocks) so that a frame of every channel can be read from it at any tick. ``Inputs``
holds the standing commands (rack switches, caps, pump speeds, deploy, heater modes, shed level).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields

import numpy as np

from twin.model.params import Params

HEATER_AUTO, HEATER_OFF, HEATER_ON = 0, 1, 2

# GPU states, shared with the catalogue's enumeration.
GPU_OFF, GPU_NOMINAL, GPU_POWER_CAPPED, GPU_THROTTLED, GPU_SHUTDOWN, GPU_FAILED = range(6)
GPU_STATE_NAMES = ("off", "nominal", "power_capped", "thermal_throttled", "thermal_shutdown",
                   "failed")


@dataclass(slots=True)
class Inputs:
    """Standing commands; they hold until changed."""

    rack_enabled: np.ndarray  # bool (racks)
    rack_cap_w: np.ndarray  # float (racks); inf = no cap
    pump_speed: np.ndarray  # fraction 0..1 (loops)
    panel_deploy: np.ndarray  # bool (panels): commanded deployed
    heater_mode: np.ndarray  # int (strings): HEATER_AUTO/OFF/ON
    shed_level_cmd: int = 0

    @classmethod
    def nominal(cls, p: Params) -> Inputs:
        return cls(
            rack_enabled=np.ones(p.n_racks, dtype=bool),
            rack_cap_w=np.full(p.n_racks, np.inf),
            pump_speed=np.ones(p.n_loops),
            panel_deploy=np.ones(p.n_panels, dtype=bool),
            heater_mode=np.zeros(p.n_strings, dtype=np.int8),
        )

    def copy(self) -> Inputs:
        return copy.deepcopy(self)

    def key(self) -> bytes:
        """A fingerprint of every command: the step re-derives its loads when it changes."""
        return b"".join((self.rack_enabled.tobytes(), self.rack_cap_w.tobytes(),
                         self.pump_speed.tobytes(), self.panel_deploy.tobytes(),
                         self.heater_mode.tobytes(), self.shed_level_cmd.to_bytes(4, "little")))


@dataclass(slots=True)
class PlantState:
    # time
    tick: int
    t_us: int
    rng: np.random.Generator
    # solar array (wings)
    wing_temp_k: np.ndarray
    wing_strings_failed: np.ndarray
    wing_stuck: np.ndarray
    wing_stuck_normal: np.ndarray  # (wings, 3) in R,T,N
    wing_mpp_w: np.ndarray  # maximum power available from each wing (before the regulator)
    wing_power_w: np.ndarray  # power drawn from each wing
    wing_cos_inc: np.ndarray
    # battery (strings)
    soc: np.ndarray
    v1: np.ndarray
    batt_temp_k: np.ndarray
    heater_on: np.ndarray
    string_online: np.ndarray
    capacity_factor: np.ndarray
    shorted_cells: np.ndarray
    leak_a: np.ndarray
    heater_stuck: np.ndarray
    batt_current_a: np.ndarray  # + discharge
    batt_voltage_v: np.ndarray
    # bus and PCDU
    shed_level_auto: int
    shed_changed_s: float
    undervoltage: bool
    lcl_tripped: np.ndarray  # racks
    lcl_fault: np.ndarray  # racks: a PCDU channel fault holds the LCL open
    rack_power_w: np.ndarray
    rack_on: np.ndarray
    array_available_w: float
    array_used_w: float
    shunt_w: float
    bus_load_w: float
    bus_voltage_v: float
    # compute (GPUs, rack-major)
    util_noise: np.ndarray
    gpu_failed: np.ndarray
    gpu_shutdown: np.ndarray
    gpu_runaway_w: np.ndarray
    die_k: np.ndarray
    plate_k: np.ndarray
    gpu_power_w: np.ndarray
    gpu_clock_frac: np.ndarray
    gpu_util: np.ndarray  # demanded utilisation (running or not)
    gpu_running: np.ndarray
    rack_cap_frac: np.ndarray  # clock ratio imposed by each rack's power cap (1: none)
    # coolant loops, pumps, radiators
    loop_k: np.ndarray
    inventory_kg: np.ndarray
    leak_kg_s: np.ndarray
    pump_health: np.ndarray
    pump_failed: np.ndarray
    loop_flow_kg_s: np.ndarray
    loop_heat_in_w: np.ndarray
    supply_k: np.ndarray
    return_k: np.ndarray
    pump_power_w: np.ndarray
    panel_k: np.ndarray
    panel_deploy_frac: np.ndarray
    panel_stuck: np.ndarray
    panel_eps_factor: np.ndarray
    panel_heat_w: np.ndarray
    av_k: float
    # energy books, cumulative joules since t = 0
    e_generated_j: float
    e_loads_j: float
    e_losses_j: float
    e_fault_j: float
    e_stored0_j: float
    q_dissipated_j: float
    q_absorbed_j: float
    q_radiated_j: float
    q_leaked_j: float
    u0_j: float
    # derived from the fault effects by step.refresh_derived(); never set by hand
    gpu_ok: np.ndarray = None  # type: ignore[assignment]  # not failed, not shut down
    gpu_base_w: np.ndarray = None  # type: ignore[assignment]  # idle + runaway power
    n_series: np.ndarray = None  # type: ignore[assignment]  # working cells in series
    strings_ok_frac: np.ndarray = None  # type: ignore[assignment]
    any_stuck: bool = False
    any_leak: bool = False  # battery soft shorts or coolant leaks
    n_series_list: list[float] = field(default_factory=list)
    online_list: list[bool] = field(default_factory=list)
    capacity_list: list[float] = field(default_factory=list)
    leak_list: list[float] = field(default_factory=list)
    # sample-and-hold values renewed every slow interval (twin.model.slow)
    loads_dirty: bool = True
    slow_dirty: bool = True
    inputs_key: bytes = b""
    was_hot: bool = False
    wing_factor: list[float] = field(default_factory=list)  # wing power per W/m² of flux
    g_plate_loop: list[float] = field(default_factory=list)
    g_panel_loop: list[float] = field(default_factory=list)
    loop_direct_w: list[float] = field(default_factory=list)  # rack overhead + pump, per loop
    dp_dt_s: float = float("nan")
    dp_k1: float = 0.0
    dp_inv_ad: float = 0.0
    dp_inv_ap: np.ndarray = None  # type: ignore[assignment]
    dp_bias: np.ndarray = None  # type: ignore[assignment]
    dp_g_gpu: np.ndarray = None  # type: ignore[assignment]
    dp_g_tl_sum: list[float] = field(default_factory=list)
    # heat and loads in transit from the per-tick path to the slow nodes (J or J/m², and s)
    acc_dt_s: float = 0.0
    acc_loop_j: list[float] = field(default_factory=list)
    acc_batt_j: list[float] = field(default_factory=list)
    acc_av_j: float = 0.0
    acc_wing_elec_j: list[float] = field(default_factory=list)
    acc_wing_sun: list[float] = field(default_factory=list)
    acc_wing_env: float = 0.0
    acc_sun_panel: float = 0.0
    acc_alb: float = 0.0
    acc_av_sun: float = 0.0

    @property
    def t_s(self) -> float:
        return self.t_us / 1e6

    def copy(self) -> PlantState:
        """A deep copy: arrays, the random generator and all."""
        return copy.deepcopy(self)

    def equals(self, other: PlantState) -> bool:
        """Bitwise equality of every field (the random generator by its state)."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "rng":
                if a.bit_generator.state != b.bit_generator.state:
                    return False
            elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
                    return False
                if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                    return False
            elif isinstance(a, list):
                if np.asarray(a).tobytes() != np.asarray(b).tobytes():
                    return False
            elif a != b and not (a != a and b != b):
                return False
        return True

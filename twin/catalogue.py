"""The channel catalogue: one entry per signal, generated from the satellite config.

Paths follow ``subsystem.component[.index].quantity_unit`` with 1-based indices, e.g.
``power.battery.1.soc_pct``, ``thermal.radiator.3.temp_c``, ``compute.rack.2.gpu.5.power_w``.
Each :class:`Channel` carries its unit, data type, range, yellow/red limits, whether it can be
written (a command) and its source. The OPC UA address space, the telemetry schema, the board maps
and the console are projections of this list; nothing else invents signal names.

A frame is every channel's value at one tick, in catalogue order and display units (°C, %, deg):
:meth:`Catalogue.frame` builds it from the plant's SI outputs with one scale-and-offset.

Hardware-in-loop channels exist only in a twin built with sensor boards
(``build_catalogue(cfg, boards=...)`` or :meth:`Catalogue.with_boards`); they follow the
plant's channels, are NaN in a plant frame, and are filled by :class:`hil.sync.HilSync`:

* per board ``<b>``: ``hil.<b>.online`` (red below 0.5: the board is offline),
  ``hil.<b>.polls``, ``.timeouts``, ``.errors``, ``.exceptions``, ``.link_down`` (counters) and
  ``hil.<b>.latency_ms`` (median round trip of the last :data:`LATENCY_WINDOW` answered
  requests; yellow above :data:`LATENCY_YELLOW_FRACTION` of the board's answer timeout);
* per channel a board measures and the plant models: ``hil.residual.<path>``, measured − model
  in the channel's unit, with the ± yellow/red limits the board file gives
  (:meth:`hil.boardfile.Board.residual_limits`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from twin.errors import TwinError
from twin.model.state import GPU_STATE_NAMES

if TYPE_CHECKING:
    from twin.clock import Clock
    from twin.config import SatelliteConfig
    from twin.model.plant import Plant

K = 273.15
Limits = tuple[float | None, float | None]
NO_LIMITS: Limits = (None, None)
HEATER_MODES = ("auto", "off", "on")
SCENARIO_STATES = ("none", "loaded", "running", "passed", "failed", "stopped")
# the live twin's clock as channels (a batch run has no clock; a replay shows its play head's)
CLOCK_CHANNELS = ("sim.mode", "sim.speed_x", "sim.behind_s")
HIL_COUNTERS = ("polls", "timeouts", "errors", "exceptions", "link_down")
LATENCY_WINDOW = 32  # answered requests in the hil.<board>.latency_ms median
LATENCY_YELLOW_FRACTION = 0.5  # hil.<board>.latency_ms is yellow above this × the timeout
COUNTER_MAX = 2**31 - 1  # OPC UA Int32


@dataclass(frozen=True, slots=True)
class Channel:
    path: str
    unit: str
    dtype: str  # "float", "int", "bool", "enum"
    lo: float
    hi: float
    description: str
    yellow: Limits = NO_LIMITS
    red: Limits = NO_LIMITS
    writable: bool = False
    source: str = "model"  # "model", "derived", "command", later "board:<name>"
    enum: tuple[str, ...] = ()
    index: int = 0  # position in a frame

    @property
    def component(self) -> str:
        """The path without its quantity: ``thermal.pump.1.speed_pct`` → ``thermal.pump.1``."""
        return self.path.rsplit(".", 1)[0]

    def limit_state(self, value: float) -> str:
        """"red", "yellow" or "ok" for a value against this channel's limits."""
        for name, (lo, hi) in (("red", self.red), ("yellow", self.yellow)):
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                return name
        return "ok"


@dataclass(frozen=True, slots=True)
class Group:
    """Channels that share a quantity: one template, one SI output key, one conversion."""

    template: str  # with {i} (1-based component index) or {r}/{g} for rack/GPU
    key: str  # name in twin.model.outputs.outputs()
    unit: str
    dtype: str
    lo: float
    hi: float
    description: str
    scale: float = 1.0
    offset: float = 0.0
    yellow: Limits = NO_LIMITS
    red: Limits = NO_LIMITS
    writable: bool = False
    source: str = "model"
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BoardChannels:
    """What the catalogue needs of one sensor board to name its ``hil.*`` channels (a
    :class:`hil.boardfile.Board` gives it with ``board_channels()``)."""

    name: str
    description: str
    timeout_s: float  # the poller's answer timeout
    residual_limits: tuple[tuple[str, float, float], ...] = ()  # (path, yellow ±, red ±)


@dataclass(frozen=True, slots=True)
class Catalogue:
    channels: tuple[Channel, ...]
    groups: tuple[tuple[Group, int], ...]  # each group and its channel count, in frame order
    by_path: dict[str, Channel] = field(repr=False)
    scale: np.ndarray = field(repr=False)
    offset: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.channels)

    @property
    def plant_count(self) -> int:
        """How many channels (the first ones) a plant frame gives; the rest are the boards'."""
        return sum(count for _, count in self.groups)

    def __getitem__(self, path: str) -> Channel:
        return self.by_path[path]

    def __contains__(self, path: object) -> bool:
        return path in self.by_path

    def select(self, patterns: Sequence[str] = ()) -> list[Channel]:
        """Channels whose path matches any glob (``*`` crosses dots) or contains a plain word."""
        if not patterns:
            return list(self.channels)
        out = []
        for ch in self.channels:
            for pat in patterns:
                if (any(c in pat for c in "*?[") and fnmatch.fnmatchcase(ch.path, pat)) or (
                    not any(c in pat for c in "*?[") and pat in ch.path
                ):
                    out.append(ch)
                    break
        return out

    def frame(self, values: dict[str, np.ndarray | float]) -> np.ndarray:
        """Every channel's value in catalogue order and display units (NaN for channels the
        plant does not give: those of the boards)."""
        raw = np.empty(len(self.channels))
        start = 0
        for g, count in self.groups:
            raw[start:start + count] = values[g.key]  # a scalar or an array of ``count``
            start += count
        raw[start:] = np.nan
        raw *= self.scale
        raw += self.offset
        return raw

    def sample(self, plant: Plant, clock: Clock | None = None,
               scenario: tuple[float, float] | None = None) -> np.ndarray:
        """A frame of the plant (and its clock, when it has one) at its current tick;
        ``scenario``: the live scenario's state index and elapsed time."""
        return self.frame(plant_values(plant, clock, scenario))

    def extended(self, channels: Iterable[Channel]) -> Catalogue:
        """This catalogue with ``channels`` appended (re-indexed after the plant's): channels
        the plant does not give, NaN in its frames, filled by whoever owns them."""
        out = list(self.channels)
        for ch in channels:
            if ch.path in self.by_path:
                raise TwinError(f"channel {ch.path} is already in the catalogue")
            out.append(dataclasses.replace(ch, index=len(out)))
        by_path = {ch.path: ch for ch in out}
        if len(by_path) != len(out):
            dup = next(p for p in by_path if sum(c.path == p for c in out) > 1)
            raise TwinError(f"channel {dup} given twice")
        n = len(out) - len(self.channels)
        return Catalogue(tuple(out), self.groups, by_path,
                         np.concatenate([self.scale, np.ones(n)]),
                         np.concatenate([self.offset, np.zeros(n)]))

    def with_boards(self, boards: Iterable[BoardChannels | SupportsBoardChannels]
                    ) -> Catalogue:
        """This catalogue with the ``hil.*`` channels of ``boards`` (board files or their
        :class:`BoardChannels`): link statistics per board, then residuals in catalogue order."""
        return self.extended(hil_channels(self, boards))


class SupportsBoardChannels(Protocol):
    def board_channels(self) -> BoardChannels: ...


def hil_channels(base: Catalogue, boards: Iterable[BoardChannels | SupportsBoardChannels]
                 ) -> list[Channel]:
    """The link and residual channels of ``boards`` over the ``base`` catalogue (see the module
    docstring); TwinError for a board named twice or a residual of no float channel."""
    if isinstance(boards, Mapping):  # e.g. load_boards(): name → board
        boards = boards.values()
    specs = [b if isinstance(b, BoardChannels) else b.board_channels() for b in boards]
    out: list[Channel] = []
    limits: dict[str, tuple[float, float]] = {}
    seen: set[str] = set()
    for b in specs:
        if b.name in seen or b.name == "residual":
            raise TwinError(f"board name {b.name!r} given twice or reserved: each board needs "
                            "a name of its own for its hil.<name>.* channels")
        seen.add(b.name)
        what = f"board {b.name}" + (f" ({b.description})" if b.description else "")
        timeout_ms = b.timeout_s * 1000.0
        out.append(Channel(f"hil.{b.name}.online", "", "bool", 0, 1,
                           f"{what} answering; 0 once silent for offline_after_s (default: two "
                           "poll periods)",
                           red=(0.5, None), source="derived"))
        for name, desc in zip(HIL_COUNTERS, (
                "requests (and ASCII sentences received) since the twin started",
                "requests without an answer in time", "answers dropped: bad CRC, checksum, "
                "header, device id or sentence", "Modbus exception answers and ASCII NAKs",
                "requests not sent: the line or connection was down"), strict=True):
            out.append(Channel(f"hil.{b.name}.{name}", "", "int", 0, COUNTER_MAX,
                               f"{what}: {desc}", source="derived"))
        out.append(Channel(f"hil.{b.name}.latency_ms", "ms", "float", 0, timeout_ms,
                           f"{what}: median round trip of the last {LATENCY_WINDOW} answered "
                           "requests (ASCII: queries and commands only)",
                           yellow=(None, LATENCY_YELLOW_FRACTION * timeout_ms),
                           source="derived"))
        for path, yellow, red in b.residual_limits:
            ch = base.by_path.get(path)
            if ch is None or ch.dtype != "float":
                raise TwinError(f"board {b.name}: no residual for {path!r}: not a float "
                                "channel of the catalogue")
            y0, r0 = limits.get(path, (0.0, 0.0))
            limits[path] = (max(y0, yellow), max(r0, red))
    for ch in base.channels:
        if ch.path in limits:
            yellow, red = limits[ch.path]
            span = ch.hi - ch.lo
            out.append(Channel(f"hil.residual.{ch.path}", ch.unit, "float", -span, span,
                               f"measured − model: {ch.description} (the board's value minus "
                               "the plant model at its sample time; 0 between that and the "
                               "model's next step)",
                               yellow=(-yellow, yellow), red=(-red, red), source="derived"))
    return out


def _limits(lo: float | None = None, hi: float | None = None) -> Limits:
    return (lo, hi)


def build_catalogue(cfg: SatelliteConfig,
                    boards: Iterable[BoardChannels | SupportsBoardChannels] | None = None
                    ) -> Catalogue:
    """The catalogue of one satellite, in a fixed order (the frame order); with ``boards``,
    followed by their ``hil.*`` channels (:meth:`Catalogue.with_boards`)."""
    c, b, bus, th, sa = cfg.compute, cfg.battery, cfg.bus, cfg.thermal, cfg.solar_array
    nw, ns, nr, ng = sa.wings, b.strings, c.racks, c.gpus_per_rack
    nl, npn = th.coolant.loops, th.radiator.panels
    rack_full_w = ng * c.gpu_tdp_w + c.rack_overhead_w
    total_w = nr * rack_full_w * 1.5 + 10000.0
    array_w = sa.area_per_wing_m2 * 1600.0 * sa.cell_efficiency
    cap_a = b.cell_capacity_ah * b.cells_parallel
    v_string = b.cells_series * max(b.ocv_v) * 1.1
    inv = th.coolant.inventory_kg
    flow = th.coolant.nominal_flow_kg_s
    slow, _shut = c.slowdown_temp_c, c.shutdown_temp_c
    G = Group
    groups: list[tuple[Group, int]] = [
        (G("sim.time_s", "time_s", "s", "float", 0, 1e12, "simulated time since epoch",
           source="derived"), 1),
        (G("sim.mode", "clock_mode", "", "enum", 0, 2, "clock: paused, real time × speed, or as "
           "fast as possible", source="derived", enum=("paused", "realtime", "fast")), 1),
        (G("sim.speed_x", "clock_speed", "", "float", 0, 1000, "real-time factor asked for",
           source="derived"), 1),
        (G("sim.behind_s", "clock_behind_s", "s", "float", 0, 1e6, "how far simulated time "
           "lags the wall clock × speed", source="derived", yellow=_limits(None, 1.0)), 1),
        (G("sim.scenario.state", "scenario_state", "", "enum", 0, 5, "the live scenario "
           "(LoadScenario, StartScenario): none, loaded, running, or how the last run ended",
           source="derived", enum=SCENARIO_STATES), 1),
        (G("sim.scenario.elapsed_s", "scenario_elapsed_s", "s", "float", 0, 30 * 86400.0,
           "simulated time since the live scenario started (its length once ended)",
           source="derived"), 1),
        (G("orbit.next_transition_s", "next_transition_s", "s", "float", 0, 1e5,
           "time to the next eclipse entry (sunlit) or exit (in eclipse); 0 if none within two "
           "orbits", source="derived"), 1),
        (G("orbit.sunlit", "sunlit", "", "bool", 0, 1, "Sun visible (more than half its disk)"),
         1),
        (G("orbit.illumination_pct", "illumination", "%", "float", 0, 100,
           "visible fraction of the solar disk (penumbra between 0 and 100)", scale=100.0), 1),
        (G("orbit.beta_deg", "beta_rad", "deg", "float", -90, 90,
           "angle between the Sun and the orbit plane", scale=180.0 / np.pi), 1),
        (G("orbit.solar_flux_w_m2", "solar_flux_w_m2", "W/m²", "float", 0, 1500,
           "direct solar flux at the satellite"), 1),
        (G("power.array.{i}.power_w", "wing_power_w", "W", "float", 0, array_w,
           "power drawn from the wing"), nw),
        (G("power.array.{i}.available_w", "wing_mpp_w", "W", "float", 0, array_w,
           "maximum power the wing could give now"), nw),
        (G("power.array.{i}.voltage_v", "wing_voltage_v", "V", "float", 0,
           sa.mpp_voltage_v * 1.5, "string operating voltage"), nw),
        (G("power.array.{i}.current_a", "wing_current_a", "A", "float", 0,
           array_w / sa.mpp_voltage_v * 2, "wing output current"), nw),
        (G("power.array.{i}.temp_c", "wing_temp_k", "°C", "float", -150, 150,
           "cell temperature", offset=-K, yellow=_limits(-120, 100), red=_limits(-140, 120)),
         nw),
        (G("power.array.{i}.incidence_deg", "wing_incidence_rad", "deg", "float", 0, 180,
           "angle between the wing normal and the Sun", scale=180.0 / np.pi,
           yellow=_limits(None, 30)), nw),
        (G("power.array.{i}.strings_ok", "wing_strings_ok", "", "int", 0, sa.strings_per_wing,
           "working cell strings", red=_limits(sa.strings_per_wing - 0.5, None)), nw),
        (G("power.array.{i}.drive_stuck", "wing_drive_stuck", "", "bool", 0, 1,
           "array drive not tracking", red=_limits(None, 0.5)), nw),
        (G("power.array.available_w", "array_available_w", "W", "float", 0, array_w * nw,
           "array power available at the bus (after the regulator)"), 1),
        (G("power.array.power_w", "array_power_w", "W", "float", 0, array_w * nw,
           "power drawn from all wings"), 1),
        (G("power.battery.{i}.soc_pct", "batt_soc", "%", "float", 0, 100, "state of charge",
           scale=100.0, yellow=_limits(bus.shed_soc_pct + 10, None),
           red=_limits(bus.shed_soc_pct, None)), ns),
        (G("power.battery.{i}.voltage_v", "batt_voltage_v", "V", "float", 0, v_string,
           "string terminal voltage",
           yellow=_limits(b.cells_series * (b.min_cell_v + 0.2), None),
           red=_limits(b.cells_series * b.min_cell_v, None)), ns),
        (G("power.battery.{i}.current_a", "batt_current_a", "A", "float", -cap_a * 3,
           cap_a * 3, "string current, positive when discharging",
           red=_limits(-cap_a * b.max_charge_c_rate * 1.05, cap_a * b.max_discharge_c_rate)),
         ns),
        (G("power.battery.{i}.temp_c", "batt_temp_k", "°C", "float", -40, 100,
           "string temperature", offset=-K, yellow=_limits(2, 35), red=_limits(0, 45)), ns),
        (G("power.battery.{i}.heater_on", "batt_heater_on", "", "bool", 0, 1,
           "heater switched on"), ns),
        (G("power.battery.{i}.online", "batt_online", "", "bool", 0, 1,
           "string connected to the bus", red=_limits(0.5, None)), ns),
        (G("power.battery.{i}.heater_mode", "batt_heater_mode", "", "enum", 0, 2,
           "heater control: auto (thermostat), off or on", writable=True, source="command",
           enum=HEATER_MODES), ns),
        (G("power.battery.soc_pct", "batt_soc_total", "%", "float", 0, 100,
           "state of charge of the connected strings", scale=100.0,
           yellow=_limits(bus.shed_soc_pct + 10, None), red=_limits(bus.shed_soc_pct, None),
           source="derived"), 1),
        (G("power.battery.power_w", "batt_power_w", "W", "float", -total_w, total_w,
           "battery terminal power, positive when discharging", source="derived"), 1),
        (G("power.bus.voltage_v", "bus_voltage_v", "V", "float", 0, bus.voltage_v * 1.2,
           "main bus voltage", yellow=_limits(bus.undervoltage_v + 2, None),
           red=_limits(bus.undervoltage_v, None)), 1),
        (G("power.bus.current_a", "bus_current_a", "A", "float", 0, total_w / bus.voltage_v,
           "main bus load current"), 1),
        (G("power.bus.load_w", "bus_load_w", "W", "float", 0, total_w, "power to all loads"), 1),
        (G("power.bus.shunt_w", "bus_shunt_w", "W", "float", 0, array_w * nw,
           "surplus array power shunted"), 1),
        (G("power.bus.undervoltage", "bus_undervoltage", "", "bool", 0, 1,
           "demand exceeds what arrays and battery can supply", red=_limits(None, 0.5)), 1),
        (G("power.pcdu.shed_level", "shed_level", "", "int", 0, nr, "load-shed level in force",
           yellow=_limits(None, 0.5)), 1),
        (G("power.pcdu.shed_level_cmd", "shed_level_cmd", "", "int", 0, nr,
           "commanded minimum load-shed level", writable=True, source="command"), 1),
        (G("power.pcdu.rack.{i}.on", "rack_on", "", "bool", 0, 1, "rack channel powered"), nr),
        (G("power.pcdu.rack.{i}.tripped", "rack_tripped", "", "bool", 0, 1,
           "latching current limiter tripped", red=_limits(None, 0.5)), nr),
        (G("power.pcdu.rack.{i}.current_a", "rack_current_a", "A", "float", 0,
           c.rack_lcl_trip_a * 1.5, "rack channel current",
           yellow=_limits(None, c.rack_lcl_trip_a * 0.9), red=_limits(None, c.rack_lcl_trip_a)),
         nr),
        (G("compute.pflops", "pflops", "PFLOP/s", "float", 0,
           nr * ng * c.gpu_peak_tflops / 1000, "delivered compute (dense BF16)",
           source="derived"), 1),
        (G("compute.power_w", "compute_power_w", "W", "float", 0, total_w,
           "power of all racks", source="derived"), 1),
        (G("compute.hottest_gpu_temp_c", "gpu_hottest_k", "°C", "float", -40, 150,
           "hottest GPU die", offset=-K, yellow=_limits(None, slow - 5), red=_limits(None, slow),
           source="derived"), 1),
        (G("compute.gpus_nominal", "gpus_nominal", "", "int", 0, nr * ng,
           "GPUs running unthrottled", source="derived"), 1),
        (G("compute.gpus_throttled", "gpus_throttled", "", "int", 0, nr * ng,
           "GPUs throttled by temperature or a power cap", source="derived",
           yellow=_limits(None, 0.5)), 1),
        (G("compute.gpus_failed", "gpus_failed", "", "int", 0, nr * ng,
           "GPUs failed or in thermal shutdown", source="derived", red=_limits(None, 0.5)), 1),
        (G("compute.gpus_off", "gpus_off", "", "int", 0, nr * ng,
           "GPUs unpowered (rack off, shed or tripped)", source="derived"), 1),
        (G("compute.rack.{i}.enabled", "rack_enabled", "", "bool", 0, 1,
           "rack switched on by command", writable=True, source="command"), nr),
        (G("compute.rack.{i}.power_cap_w", "rack_power_cap_w", "W", "float", 0, rack_full_w * 2,
           "rack power cap (0: none)", writable=True, source="command"), nr),
        (G("compute.rack.{i}.power_w", "rack_power_w", "W", "float", 0, rack_full_w * 2,
           "rack power"), nr),
        (G("compute.rack.{r}.gpu.{g}.temp_c", "gpu_temp_k", "°C", "float", -40, 150,
           "GPU die temperature", offset=-K, yellow=_limits(None, slow - 5),
           red=_limits(None, slow)), nr * ng),
        (G("compute.rack.{r}.gpu.{g}.power_w", "gpu_power_w", "W", "float", 0,
           c.gpu_tdp_w * 3, "GPU board power", yellow=_limits(None, c.gpu_tdp_w * 1.02),
           red=_limits(None, c.gpu_tdp_w * 1.2)), nr * ng),
        (G("compute.rack.{r}.gpu.{g}.util_pct", "gpu_util", "%", "float", 0, 100,
           "GPU utilisation", scale=100.0), nr * ng),
        (G("compute.rack.{r}.gpu.{g}.clock_mhz", "gpu_clock_mhz", "MHz", "float", 0,
           c.clock_max_mhz, "GPU core clock"), nr * ng),
        (G("compute.rack.{r}.gpu.{g}.state", "gpu_state", "", "enum", 0,
           len(GPU_STATE_NAMES) - 1, "GPU state", enum=GPU_STATE_NAMES), nr * ng),
        (G("thermal.loop.{i}.supply_temp_c", "loop_supply_k", "°C", "float", -60, 120,
           "coolant temperature into the racks", offset=-K, yellow=_limits(5, 40),
           red=_limits(-15, 50)), nl),
        (G("thermal.loop.{i}.return_temp_c", "loop_return_k", "°C", "float", -60, 120,
           "coolant temperature out of the racks", offset=-K, yellow=_limits(5, 50),
           red=_limits(-15, 60)), nl),
        (G("thermal.loop.{i}.flow_kg_s", "loop_flow_kg_s", "kg/s", "float", 0, flow * 2,
           "coolant mass flow", yellow=_limits(flow * 0.7, None), red=_limits(flow * 0.3, None)),
         nl),
        (G("thermal.loop.{i}.inventory_kg", "loop_inventory_kg", "kg", "float", 0, inv * 1.2,
           "coolant mass in the loop", yellow=_limits(inv * 0.9, None),
           red=_limits(inv * th.coolant.min_inventory_fraction, None)), nl),
        (G("thermal.loop.{i}.heat_w", "loop_heat_w", "W", "float", -total_w, total_w,
           "heat picked up from the racks and pump"), nl),
        (G("thermal.pump.{i}.speed_pct", "pump_speed", "%", "float", 0, 100,
           "commanded pump speed", scale=100.0, writable=True, source="command"), nl),
        (G("thermal.pump.{i}.power_w", "pump_power_w", "W", "float", 0,
           th.coolant.pump_power_w * 2, "pump electrical power"), nl),
        (G("thermal.pump.{i}.running", "pump_running", "", "bool", 0, 1, "pump turning",
           red=_limits(0.5, None)), nl),
        (G("thermal.radiator.{i}.temp_c", "panel_temp_k", "°C", "float", -150, 150,
           "panel temperature", offset=-K, yellow=_limits(-10, 60), red=_limits(-18, 80)), npn),
        (G("thermal.radiator.{i}.heat_w", "panel_heat_w", "W", "float", 0, total_w,
           "heat radiated by the panel"), npn),
        (G("thermal.radiator.{i}.deployed_pct", "panel_deployed", "%", "float", 0, 100,
           "deployment (0 stowed, 100 fully deployed)", scale=100.0,
           yellow=_limits(99.5, None)), npn),
        (G("thermal.radiator.{i}.deploy_cmd", "panel_deploy_cmd", "", "bool", 0, 1,
           "commanded deployed", writable=True, source="command"), npn),
        (G("thermal.radiator.heat_w", "radiator_heat_w", "W", "float", 0, total_w,
           "heat radiated by all panels", source="derived"), 1),
        (G("thermal.avionics.temp_c", "avionics_temp_k", "°C", "float", -60, 120,
           "avionics plate temperature", offset=-K, yellow=_limits(0, 50),
           red=_limits(-10, 60)), 1),
        (G("power.balance.residual_pct", "e_residual_pct", "%", "float", -100, 100,
           "electrical energy book residual since start", source="derived",
           yellow=_limits(-0.1, 0.1), red=_limits(-1, 1)), 1),
        (G("thermal.balance.residual_pct", "q_residual_pct", "%", "float", -100, 100,
           "heat book residual since start", source="derived",
           yellow=_limits(-0.1, 0.1), red=_limits(-1, 1)), 1),
    ]
    channels: list[Channel] = []
    scale: list[float] = []
    offset: list[float] = []
    for g, count in groups:
        for path in _paths(g.template, count, ng):
            channels.append(Channel(path, g.unit, g.dtype, g.lo, g.hi, g.description, g.yellow,
                                    g.red, g.writable, g.source, g.enum, len(channels)))
            scale.append(g.scale)
            offset.append(g.offset)
    by_path = {ch.path: ch for ch in channels}
    if len(by_path) != len(channels):
        raise AssertionError("duplicate channel paths in the catalogue")
    cat = Catalogue(tuple(channels), tuple(groups), by_path, np.array(scale), np.array(offset))
    return cat.with_boards(boards) if boards else cat


def _paths(template: str, count: int, per_rack: int) -> Iterable[str]:
    if "{r}" in template:
        for k in range(count):
            yield template.format(r=k // per_rack + 1, g=k % per_rack + 1)
    elif "{i}" in template:
        for k in range(count):
            yield template.format(i=k + 1)
    else:
        yield template


def format_table(channels: Sequence[Channel], fmt: Callable[[Channel], list[str]] | None = None
                 ) -> str:
    """A fixed-width table of channels for terminals."""
    head = ["path", "unit", "type", "range", "yellow", "red", "rw", "source"]

    def lim(pair: Limits) -> str:
        lo, hi = pair
        if lo is None and hi is None:
            return ""
        return f"{'' if lo is None else f'{lo:g}'}..{'' if hi is None else f'{hi:g}'}"

    rows = [head] + [
        fmt(ch) if fmt else [ch.path, ch.unit, ch.dtype, f"{ch.lo:g}..{ch.hi:g}", lim(ch.yellow),
                             lim(ch.red), "w" if ch.writable else "r", ch.source]
        for ch in channels
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def plant_values(plant: Plant, clock: Clock | None = None,
                 scenario: tuple[float, float] | None = None) -> dict[str, np.ndarray | float]:
    """The plant's observables (SI) at its current tick, keyed as the catalogue expects, plus
    the clock's state (a batch run without a clock runs as fast as possible) and the live
    scenario's (none in a batch run: the batch scenario is the run itself)."""
    from twin.model.outputs import outputs

    values = outputs(plant.params, plant.state, plant.inputs, plant.illumination,
                     plant.beta_rad, plant.env_row.flux_w_m2)
    values["next_transition_s"] = plant.next_transition_in_s()
    if clock is None:
        values.update(clock_mode=2.0, clock_speed=0.0, clock_behind_s=0.0)
    else:
        values.update(clock_mode=float(("paused", "realtime", "fast").index(clock.mode)),
                      clock_speed=clock.speed, clock_behind_s=clock.behind_s)
    state, elapsed = scenario if scenario is not None else (0.0, 0.0)
    values.update(scenario_state=state, scenario_elapsed_s=elapsed)
    return values

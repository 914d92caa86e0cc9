"""The fault catalogue, as data, and how active faults act on the plant state.

Each :class:`FaultKind` names its target (a catalogue component such as ``thermal.pump.1`` or,
for sensor faults, any channel path), its parameters with units, defaults and ranges, and what it
does. Faults are injected with a start time and an optional duration and are cleared by id or
when the duration ends. Effects are recomputed from the list of active faults whenever it changes
(:func:`apply_effects`), so stacked faults add up and clearing one restores exactly what it took.

Physical losses stay lost: clearing a coolant leak stops the leak but does not return the coolant;
clearing a rack trip fault does not reset the latched limiter (the operator power-cycles the rack).
Sensor faults (stuck, drift, noise) and board faults (``board_*``: dropout, garbage, slow, link
down, reset; target ``hil.<board>``) have no effect on the plant: the sensor boards apply them
(``twin up`` forwards them to its stub boards, :mod:`twin.embedded`); in a twin without boards they
are recorded only. ``board_reset`` is one shot: active and cleared at the same instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.errors import CommandError
from twin.model.electrical import stored_energy_j
from twin.model.params import Params
from twin.model.state import PlantState


@dataclass(frozen=True, slots=True)
class FaultParam:
    name: str
    unit: str
    default: float
    lo: float
    hi: float
    doc: str


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    target: str  # component pattern: "power.array.N", "compute.rack.N.gpu.M", "channel", ...
    doc: str
    params: tuple[FaultParam, ...] = ()
    plant: bool = True  # False: applied by sensor boards, not the plant
    one_shot: bool = False  # happens once: cleared the instant it becomes active


def _p(name: str, unit: str, default: float, lo: float, hi: float, doc: str) -> FaultParam:
    return FaultParam(name, unit, default, lo, hi, doc)


CATALOGUE: tuple[FaultKind, ...] = (
    FaultKind(
        "solar_string_loss",
        "power.array.N",
        "open-circuit cell strings on a wing",
        (_p("strings", "1", 1, 1, 1000, "strings lost"),),
    ),
    FaultKind(
        "array_drive_stuck",
        "power.array.N",
        "array drive stops: the wing keeps its attitude in the orbit frame",
        (
            _p(
                "offset_deg",
                "deg",
                0.0,
                -180.0,
                180.0,
                "extra rotation about the orbit normal from the Sun-pointing attitude",
            ),
        ),
    ),
    FaultKind(
        "battery_cell_short",
        "power.battery.N",
        "internal short of cells: string voltage drops, a leakage current drains and heats",
        (
            _p("cells", "1", 1, 1, 50, "cells shorted"),
            _p("leak_a", "A", 2.0, 0.0, 200.0, "soft-short leakage current"),
        ),
    ),
    FaultKind("battery_heater_stuck_on", "power.battery.N", "heater relay welded closed"),
    FaultKind(
        "battery_capacity_fade",
        "power.battery.N",
        "capacity lost to ageing or damage",
        (_p("fraction", "1", 0.2, 0.0, 0.95, "fraction of capacity lost"),),
    ),
    FaultKind(
        "battery_string_open",
        "power.battery.N",
        "string disconnected (BCR/BDR or string failure): it neither charges nor discharges",
    ),
    FaultKind(
        "pcdu_channel_trip",
        "compute.rack.N",
        "the rack's PCDU channel fails open; the rack is unpowered until cleared",
    ),
    FaultKind(
        "rack_trip",
        "compute.rack.N",
        "the rack's latching current limiter trips now; reset by power-cycling the rack",
    ),
    FaultKind("pump_failure", "thermal.pump.N", "pump stops: no flow in its loop"),
    FaultKind(
        "pump_degraded",
        "thermal.pump.N",
        "worn pump: less flow at the same speed",
        (_p("health", "1", 0.5, 0.0, 1.0, "flow as a fraction of a healthy pump's"),),
    ),
    FaultKind(
        "coolant_leak",
        "thermal.loop.N",
        "coolant escapes; the pump loses prime when low",
        (_p("rate_kg_s", "kg/s", 0.01, 0.0, 10.0, "leak rate"),),
    ),
    FaultKind(
        "radiator_stuck_stowed",
        "thermal.radiator.N",
        "panel stowed and its deploy mechanism jammed",
    ),
    FaultKind(
        "radiator_damage",
        "thermal.radiator.N",
        "micrometeoroid or contamination damage: emissivity lost",
        (_p("emissivity_factor", "1", 0.5, 0.0, 1.0, "remaining fraction of ε"),),
    ),
    FaultKind("gpu_failure", "compute.rack.N.gpu.M", "GPU fails: no power, no compute"),
    FaultKind(
        "gpu_runaway",
        "compute.rack.N.gpu.M",
        "GPU draws power beyond its control (stuck regulator, firmware fault)",
        (_p("extra_w", "W", 600.0, 0.0, 5000.0, "additional power, not capped"),),
    ),
    FaultKind(
        "sensor_stuck",
        "channel",
        "a board's sensor reads a fixed value",
        (
            _p(
                "value",
                "channel unit",
                float("nan"),
                -1e12,
                1e12,
                "reading (NaN: the value at the moment of failure)",
            ),
        ),
        plant=False,
    ),
    FaultKind(
        "sensor_drift",
        "channel",
        "a board's sensor drifts linearly",
        (_p("rate_per_h", "channel unit/h", 1.0, -1e6, 1e6, "drift rate"),),
        plant=False,
    ),
    FaultKind(
        "sensor_noise",
        "channel",
        "a board's sensor gets extra Gaussian noise",
        (_p("std", "channel unit", 1.0, 0.0, 1e6, "standard deviation"),),
        plant=False,
    ),
    FaultKind(
        "board_dropout",
        "board",
        "a sensor board stops answering requests",
        (_p("probability", "1", 1.0, 0.0, 1.0, "chance that a request goes unanswered"),),
        plant=False,
    ),
    FaultKind(
        "board_garbage",
        "board",
        "a sensor board answers with random bytes (EMI, a failing transceiver)",
        (_p("probability", "1", 1.0, 0.0, 1.0, "chance that an answer is garbage"),
         _p("length", "bytes", 16.0, 1.0, 256.0, "garbage bytes sent instead")),
        plant=False,
    ),
    FaultKind(
        "board_slow",
        "board",
        "a sensor board answers late",
        (_p("delay_s", "s", 0.5, 0.0, 60.0, "extra delay before each answer"),),
        plant=False,
    ),
    FaultKind(
        "board_link_down",
        "board",
        "a sensor board's link is cut: nothing in or out (serial), connections refused (TCP)",
        plant=False,
    ),
    FaultKind(
        "board_reset",
        "board",
        "a sensor board resets once: uptime, counters and settings back to their start",
        plant=False,
        one_shot=True,
    ),
)
KINDS: dict[str, FaultKind] = {k.name: k for k in CATALOGUE}
BOARD_TARGET = re.compile(r"hil\.([A-Za-z][A-Za-z0-9_-]*)")


@dataclass(slots=True)
class Fault:
    id: int
    kind: str
    target: str
    index: int  # flat component index (-1 for channel targets)
    params: dict[str, float]
    start_us: int
    end_us: int | None
    state: str = "pending"  # pending → active → cleared
    captured: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "params": dict(self.params),
            "start_s": self.start_us / 1e6,
            "end_s": None if self.end_us is None else self.end_us / 1e6,
            "state": self.state,
        }


def resolve_target(p: Params, kind: FaultKind, target: str) -> int:
    """Flat index of ``target`` for ``kind`` (1-based in paths), or a CommandError."""
    counts = {
        "power.array.N": p.n_wings,
        "power.battery.N": p.n_strings,
        "compute.rack.N": p.n_racks,
        "thermal.pump.N": p.n_loops,
        "thermal.loop.N": p.n_loops,
        "thermal.radiator.N": p.n_panels,
    }
    if kind.target == "channel":
        return -1
    if kind.target == "board":
        if not BOARD_TARGET.fullmatch(target):
            raise CommandError(f"fault {kind.name}: target {target!r} is not a board; expected "
                               "hil.<board name>, e.g. hil.power")
        return -1
    if kind.target == "compute.rack.N.gpu.M":
        m = re.fullmatch(r"compute\.rack\.(\d+)\.gpu\.(\d+)", target)
        if not m or not (1 <= int(m[1]) <= p.n_racks and 1 <= int(m[2]) <= p.gpus_per_rack):
            raise CommandError(
                f"fault {kind.name}: target {target!r} is not a GPU; expected "
                f"compute.rack.<1..{p.n_racks}>.gpu.<1..{p.gpus_per_rack}>"
            )
        return (int(m[1]) - 1) * p.gpus_per_rack + int(m[2]) - 1
    prefix = kind.target[:-2]
    m = re.fullmatch(re.escape(prefix) + r"\.(\d+)", target)
    n = counts[kind.target]
    if not m or not 1 <= int(m[1]) <= n:
        raise CommandError(
            f"fault {kind.name}: target {target!r} is not valid; expected {prefix}.<1..{n}>"
        )
    return int(m[1]) - 1


def check_params(kind: FaultKind, params: dict[str, Any] | None) -> dict[str, float]:
    given = dict(params or {})
    out: dict[str, float] = {}
    known = {fp.name: fp for fp in kind.params}
    for name in given:
        if name not in known:
            expected = ", ".join(known) or "no parameters"
            raise CommandError(
                f"fault {kind.name}: unknown parameter {name!r}; expected {expected}"
            )
    for fp in kind.params:
        value = given.get(fp.name, fp.default)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise CommandError(
                f"fault {kind.name}: {fp.name} = {value!r} is not a number"
            ) from None
        if value != value and fp.default == fp.default:  # NaN only where it means something
            raise CommandError(f"fault {kind.name}: {fp.name} = nan: expected a number in "
                               f"{fp.lo:g}..{fp.hi:g} {fp.unit}", status="BadOutOfRange")
        if not fp.lo <= value <= fp.hi and value == value:
            raise CommandError(
                f"fault {kind.name}: {fp.name} = {value:g} {fp.unit} is outside "
                f"{fp.lo:g}..{fp.hi:g}",
                status="BadOutOfRange",
            )
        out[fp.name] = value
    return out


def reset_effects(p: Params, s: PlantState) -> None:
    s.wing_strings_failed = np.zeros(p.n_wings, dtype=np.int64)
    s.wing_stuck = np.zeros(p.n_wings, dtype=bool)
    s.shorted_cells = np.zeros(p.n_strings, dtype=np.int64)
    s.leak_a = np.zeros(p.n_strings)
    s.heater_stuck = np.zeros(p.n_strings, dtype=bool)
    s.string_online = np.ones(p.n_strings, dtype=bool)
    s.lcl_fault = np.zeros(p.n_racks, dtype=bool)
    s.pump_failed = np.zeros(p.n_loops, dtype=bool)
    s.pump_health = np.ones(p.n_loops)
    s.leak_kg_s = np.zeros(p.n_loops)
    s.panel_stuck = np.zeros(p.n_panels, dtype=bool)
    s.panel_eps_factor = np.ones(p.n_panels)
    s.gpu_failed = np.zeros(p.n_gpus, dtype=bool)
    s.gpu_runaway_w = np.zeros(p.n_gpus)


def activate(p: Params, s: PlantState, f: Fault, sun_rtn: np.ndarray) -> None:
    """One-shot effects at the moment a fault becomes active."""
    if f.kind == "array_drive_stuck":
        a = np.radians(f.params["offset_deg"])
        x, y, z = (float(v) for v in sun_rtn)
        c, si = np.cos(a), np.sin(a)  # rotate about N (third axis)
        f.captured["normal"] = [x * c - y * si, x * si + y * c, z]
    elif f.kind == "rack_trip":
        s.lcl_tripped = s.lcl_tripped.copy()
        s.lcl_tripped[f.index] = True
    elif f.kind == "radiator_stuck_stowed":
        s.panel_deploy_frac = s.panel_deploy_frac.copy()
        s.panel_deploy_frac[f.index] = 0.0


def apply_effects(p: Params, s: PlantState, faults: list[Fault]) -> None:
    """Recompute every fault effect from the active faults; book any stored energy lost."""
    cf_old, sh_old = s.capacity_factor, s.shorted_cells
    e_before = float(np.sum(stored_energy_j(p, s.soc, cf_old, sh_old)))
    charge = s.soc * cf_old
    reset_effects(p, s)
    cf = np.ones(p.n_strings)
    normals = np.zeros((p.n_wings, 3))
    for f in faults:
        if f.state != "active":
            continue
        i, k = f.index, f.kind
        if k == "solar_string_loss":
            s.wing_strings_failed[i] = min(
                p.strings_per_wing, s.wing_strings_failed[i] + int(f.params["strings"])
            )
        elif k == "array_drive_stuck":
            s.wing_stuck[i] = True
            normals[i] = f.captured["normal"]
        elif k == "battery_cell_short":
            s.shorted_cells[i] = min(
                p.cells_series - 1, s.shorted_cells[i] + int(f.params["cells"])
            )
            s.leak_a[i] += f.params["leak_a"]
        elif k == "battery_heater_stuck_on":
            s.heater_stuck[i] = True
        elif k == "battery_capacity_fade":
            cf[i] *= 1.0 - f.params["fraction"]
        elif k == "battery_string_open":
            s.string_online[i] = False
        elif k == "pcdu_channel_trip":
            s.lcl_fault[i] = True
        elif k == "pump_failure":
            s.pump_failed[i] = True
        elif k == "pump_degraded":
            s.pump_health[i] *= f.params["health"]
        elif k == "coolant_leak":
            s.leak_kg_s[i] += f.params["rate_kg_s"]
        elif k == "radiator_stuck_stowed":
            s.panel_stuck[i] = True
        elif k == "radiator_damage":
            s.panel_eps_factor[i] *= f.params["emissivity_factor"]
        elif k == "gpu_failure":
            s.gpu_failed[i] = True
        elif k == "gpu_runaway":
            s.gpu_runaway_w[i] += f.params["extra_w"]
    s.wing_stuck_normal = normals
    # Charge (A·s) is kept; a smaller capacity means a higher SOC, and charge above it is lost.
    s.capacity_factor = cf
    s.soc = np.minimum(charge / cf, 1.0)
    e_after = float(np.sum(stored_energy_j(p, s.soc, cf, s.shorted_cells)))
    s.e_fault_j += e_before - e_after
    from twin.model.step import refresh_derived

    refresh_derived(p, s)

"""The plant: a satellite's state, its standing commands, its faults and its clockless stepping.

``Plant`` owns a :class:`PlantState`, the :class:`Inputs` and the fault list; ``step(dt_s)`` and
``run(n, dt_s)`` advance it. The orbit environment is a pure function of time, so it is computed
for many future steps at once (vectorised) and cached; time is kept in integer microseconds so
that the cached grid and the state's clock agree exactly, and every chunking of a run gives the
same bits. For the pure contract, :func:`step` returns a new state and leaves its input alone.

Checkpoints (:meth:`Plant.checkpoint`, :meth:`Plant.restore`) copy everything that decides the
future: state, random generator, commands and faults; :mod:`twin.checkpoints` puts them in files
(the model does no I/O).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.errors import CheckpointError, CommandError
from twin.model import faults as flt
from twin.model import orbit as orb
from twin.model.loads import compute_loads
from twin.model.params import Params, build_params
from twin.model.slow import reset_accumulators, slow_update
from twin.model.state import Inputs, PlantState
from twin.model.step import (
    EnvRow,
    advance,
    cell_ocv_v,
    internal_energy_j,
    refresh_derived,
    stored_energy_j,
)

CHUNK_STEPS = 1024
CHECKPOINT_MAGIC = "orbital-twin-checkpoint-1"


def initial_state(p: Params, seed: int) -> PlantState:
    t0 = p.initial_k
    ns, nw, nr, ng, nl, npn = p.n_strings, p.n_wings, p.n_racks, p.n_gpus, p.n_loops, p.n_panels
    s = PlantState(
        tick=0, t_us=0, rng=np.random.Generator(np.random.PCG64(seed)),
        wing_temp_k=np.full(nw, t0), wing_strings_failed=np.zeros(nw, dtype=np.int64),
        wing_stuck=np.zeros(nw, dtype=bool), wing_stuck_normal=np.zeros((nw, 3)),
        wing_mpp_w=np.zeros(nw), wing_power_w=np.zeros(nw), wing_cos_inc=np.ones(nw),
        soc=np.full(ns, p.initial_soc), v1=np.zeros(ns),
        batt_temp_k=np.full(ns, p.initial_batt_k), heater_on=np.zeros(ns, dtype=bool),
        string_online=np.ones(ns, dtype=bool), capacity_factor=np.ones(ns),
        shorted_cells=np.zeros(ns, dtype=np.int64), leak_a=np.zeros(ns),
        heater_stuck=np.zeros(ns, dtype=bool), batt_current_a=np.zeros(ns),
        batt_voltage_v=np.zeros(ns),
        shed_level_auto=0, shed_changed_s=-1e18, undervoltage=False,
        lcl_tripped=np.zeros(nr, dtype=bool), lcl_fault=np.zeros(nr, dtype=bool),
        rack_power_w=np.zeros(nr), rack_on=np.ones(nr, dtype=bool),
        array_available_w=0.0, array_used_w=0.0, shunt_w=0.0, bus_load_w=0.0,
        bus_voltage_v=p.bus_v,
        util_noise=np.zeros(ng),
        gpu_failed=np.zeros(ng, dtype=bool), gpu_shutdown=np.zeros(ng, dtype=bool),
        gpu_runaway_w=np.zeros(ng), die_k=np.full(ng, t0), plate_k=np.full(ng, t0),
        gpu_power_w=np.zeros(ng), gpu_clock_frac=np.zeros(ng), gpu_util=np.zeros(ng),
        gpu_running=np.zeros(ng, dtype=bool), rack_cap_frac=np.ones(nr),
        loop_k=np.full(nl, t0), inventory_kg=np.full(nl, p.inventory_kg),
        leak_kg_s=np.zeros(nl), pump_health=np.ones(nl), pump_failed=np.zeros(nl, dtype=bool),
        loop_flow_kg_s=np.zeros(nl), loop_heat_in_w=np.zeros(nl), supply_k=np.full(nl, t0),
        return_k=np.full(nl, t0), pump_power_w=np.zeros(nl),
        panel_k=np.full(npn, t0), panel_deploy_frac=np.ones(npn),
        panel_stuck=np.zeros(npn, dtype=bool), panel_eps_factor=np.ones(npn),
        panel_heat_w=np.zeros(npn), av_k=t0,
        e_generated_j=0.0, e_loads_j=0.0, e_losses_j=0.0, e_fault_j=0.0, e_stored0_j=0.0,
        q_dissipated_j=0.0, q_absorbed_j=0.0, q_radiated_j=0.0, q_leaked_j=0.0, u0_j=0.0,
    )
    refresh_derived(p, s)
    reset_accumulators(p, s)
    s.e_stored0_j = stored_energy_j(p, s)
    s.u0_j = internal_energy_j(p, s)
    return s


def prime_outputs(p: Params, s: PlantState, u: Inputs) -> None:
    """Fill the outputs a frame shows before the first step: flows, loads, open-circuit volts."""
    slow_update(p, s, u)
    compute_loads(p, s, u)
    s.batt_voltage_v = np.array([cell_ocv_v(p, x) * n for x, n in
                                 zip(s.soc.tolist(), s.n_series.tolist(), strict=True)])
    s.bus_voltage_v = p.bus_v


class EnvTable:
    """The environment on the grid t_us0 + k·dt_us, k < n, as lists of floats."""

    def __init__(self, p: Params, t_us0: int, dt_us: int, n: int) -> None:
        self.t_us0, self.dt_us, self.n = t_us0, dt_us, n
        t_s = (t_us0 + dt_us * np.arange(n, dtype=np.int64)) / 1e6
        env = orb.environment(p.orbit, t_s)
        sun = env.sun_rtn
        f_front = orb.earth_view_factor(p.altitude_m, -sun[:, 0])
        f_back = orb.earth_view_factor(p.altitude_m, sun[:, 0])
        full = orb.SOLAR_CONSTANT_W_M2 / env.sun_distance_au**2
        self.rows = [
            EnvRow(*vals) for vals in zip(
                env.solar_flux_w_m2.tolist(), full.tolist(), sun[:, 0].tolist(),
                sun[:, 1].tolist(), sun[:, 2].tolist(), env.albedo_factor.tolist(),
                f_front.tolist(), f_back.tolist(), strict=True)
        ]
        self.illumination = env.illumination.tolist()
        self.beta_rad = env.beta_rad.tolist()

    def index(self, t_us: int, dt_us: int) -> int:
        if dt_us != self.dt_us:
            return -1
        k, rem = divmod(t_us - self.t_us0, dt_us)
        return k if rem == 0 and 0 <= k < self.n else -1


@dataclass(slots=True)
class Checkpoint:
    magic: str
    config_source: str
    params_digest: str
    state: PlantState
    inputs: Inputs
    faults: list[flt.Fault]
    next_fault_id: int
    meta: dict[str, Any] = field(default_factory=dict)


def params_digest(p: Params) -> str:
    """A short fingerprint of the parameters, so a checkpoint meets only its own satellite."""
    import hashlib

    h = hashlib.sha256()
    for name in Params.__slots__:  # type: ignore[attr-defined]
        v = getattr(p, name)
        h.update(name.encode())
        h.update(v.tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    return h.hexdigest()[:16]


class Plant:
    """A stepping satellite with commands and faults."""

    def __init__(self, cfg: Any, seed: int | None = None) -> None:
        self.config = cfg
        self.params = build_params(cfg)
        self.seed = cfg.simulation.seed if seed is None else seed
        self.state = initial_state(self.params, self.seed)
        self.inputs = Inputs.nominal(self.params)
        prime_outputs(self.params, self.state, self.inputs)
        self.faults: list[flt.Fault] = []
        self.next_fault_id = 1
        self._next_event_us: int | None = None
        self._env: EnvTable | None = None
        self._digest = params_digest(self.params)
        self._transition: tuple[float | None, bool] | None = None
        self.env_row = self._env_row(self.state.t_us, int(round(cfg.simulation.step_s * 1e6)))

    # --- time ------------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        return self.state.t_us / 1e6

    def _env_row(self, t_us: int, dt_us: int) -> EnvRow:
        env = self._env
        k = env.index(t_us, dt_us) if env is not None else -1
        if k < 0:
            env = self._env = EnvTable(self.params, t_us, dt_us, CHUNK_STEPS)
            k = 0
        self._env_k = k
        return env.rows[k]

    @property
    def illumination(self) -> float:
        """Fraction of the Sun's disk visible at the start of the last step."""
        assert self._env is not None
        return self._env.illumination[self._env_k]

    def next_transition_in_s(self) -> float:
        """Seconds to the next eclipse entry (if sunlit) or exit; 0 if none within two orbits.

        Cached: the search (~1.5 ms) runs again only once the cached transition has passed or
        the Sun state no longer matches it.
        """
        t = self.t_s
        sunlit = self.illumination > 0.5
        cached = self._transition
        if cached is None or cached[1] != sunlit or (cached[0] is not None and t >= cached[0]):
            nxt = orb.next_transition(self.params.orbit, t, sunlit)
            cached = self._transition = (nxt, sunlit)
        return 0.0 if cached[0] is None else max(0.0, cached[0] - t)

    @property
    def beta_rad(self) -> float:
        assert self._env is not None
        return self._env.beta_rad[self._env_k]

    def step(self, dt_s: float | None = None) -> None:
        dt = self.config.simulation.step_s if dt_s is None else dt_s
        if not 0.0 < dt <= 60.0:
            raise CommandError(f"step: dt_s = {dt!r} s: expected 0 < dt_s <= 60", "BadOutOfRange")
        dt_us = int(round(dt * 1e6))
        s = self.state
        row = self._env_row(s.t_us, dt_us)
        self.env_row = row
        if self._next_event_us is not None and s.t_us >= self._next_event_us:
            self._fault_events(row)
        advance(self.params, s, self.inputs, dt_us / 1e6, row)

    def run(self, n_steps: int, dt_s: float | None = None,
            every: int = 0, callback: Callable[[Plant], None] | None = None) -> None:
        """``n_steps`` steps; ``callback(self)`` after every ``every``-th step (0: never)."""
        for i in range(1, n_steps + 1):
            self.step(dt_s)
            if every and callback is not None and i % every == 0:
                callback(self)

    # --- faults ----------------------------------------------------------------------------
    def inject_fault(self, kind: str, target: str, params: dict[str, Any] | None = None,
                     start_s: float | None = None, duration_s: float | None = None) -> int:
        """Schedule a fault (now, if ``start_s`` is None or past); returns its id."""
        fk = flt.KINDS.get(kind)
        if fk is None:
            raise CommandError(f"unknown fault kind {kind!r}; expected one of "
                               + ", ".join(flt.KINDS))
        index = flt.resolve_target(self.params, fk, target)
        for name, v in (("start_s", start_s), ("duration_s", duration_s)):
            if v is not None and not math.isfinite(v):
                raise CommandError(f"fault {kind}: {name} = {v!r}: expected a finite time in s",
                                   "BadOutOfRange")
        values = flt.check_params(fk, params)
        if duration_s is not None and not duration_s > 0:
            raise CommandError(f"fault {kind}: duration_s = {duration_s!r}: expected > 0",
                               "BadOutOfRange")
        now = self.state.t_us
        start = now if start_s is None else max(now, int(round(start_s * 1e6)))
        end = None if duration_s is None else start + int(round(duration_s * 1e6))
        if fk.one_shot:
            end = start
        f = flt.Fault(self.next_fault_id, kind, target, index, values, start, end)
        self.next_fault_id += 1
        self.faults.append(f)
        self._fault_events(self.env_row)
        return f.id

    def clear_fault(self, fault_id: int) -> None:
        for f in self.faults:
            if f.id == fault_id and f.state != "cleared":
                f.state = "cleared"
                f.end_us = self.state.t_us
                flt.apply_effects(self.params, self.state, self.faults)
                self._schedule()
                return
        raise CommandError(f"no active or pending fault with id {fault_id}", "BadInvalidArgument")

    def list_faults(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.faults]

    def active_faults(self, plant_only: bool = False) -> list[flt.Fault]:
        return [f for f in self.faults if f.state == "active"
                and (not plant_only or flt.KINDS[f.kind].plant)]

    def _fault_events(self, row: EnvRow) -> None:
        now = self.state.t_us
        changed = False
        sun = np.array([row.sun_r, row.sun_t, row.sun_n])
        for f in self.faults:
            if f.state == "pending" and f.start_us <= now:
                f.state = "active"
                flt.activate(self.params, self.state, f, sun)
                changed = True
            if f.state == "active" and f.end_us is not None and f.end_us <= now:
                f.state = "cleared"
                changed = True
        if changed:
            flt.apply_effects(self.params, self.state, self.faults)
        self._schedule()

    def _schedule(self) -> None:
        times = [f.start_us for f in self.faults if f.state == "pending"]
        times += [f.end_us for f in self.faults if f.state == "active" and f.end_us is not None]
        self._next_event_us = min(times) if times else None

    # --- checkpoints -----------------------------------------------------------------------
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(CHECKPOINT_MAGIC, self.config.source, self._digest,
                          self.state.copy(), self.inputs.copy(), copy.deepcopy(self.faults),
                          self.next_fault_id, {"seed": self.seed})

    def restore(self, cp: Checkpoint) -> None:
        if cp.magic != CHECKPOINT_MAGIC:
            raise CheckpointError(f"not an orbital-twin checkpoint (magic {cp.magic!r})")
        if cp.params_digest != self._digest:
            raise CheckpointError(
                f"checkpoint was made from {cp.config_source} with different parameters "
                f"({cp.params_digest} ≠ {self._digest}); load the same satellite file")
        self.state = cp.state.copy()
        self.inputs = cp.inputs.copy()
        self.faults = copy.deepcopy(cp.faults)
        self.next_fault_id = cp.next_fault_id
        self._schedule()
        self.env_row = self._env_row(self.state.t_us,
                                     int(round(self.config.simulation.step_s * 1e6)))

    def fork(self) -> Plant:
        """An independent plant continuing from this instant."""
        other = Plant.__new__(Plant)
        other.config, other.params, other.seed = self.config, self.params, self.seed
        other._digest = self._digest
        other._env = None
        other._next_event_us = None
        other._transition = None
        other.restore(self.checkpoint())
        return other


def step(plant_params: Params, state: PlantState, inputs: Inputs, dt_s: float) -> PlantState:
    """Pure form of one step for a fault-free state: returns a new state, leaves ``state``."""
    new = state.copy()
    dt_us = int(round(dt_s * 1e6))
    row = EnvTable(plant_params, new.t_us, dt_us, 1).rows[0]
    advance(plant_params, new, inputs, dt_us / 1e6, row)
    return new

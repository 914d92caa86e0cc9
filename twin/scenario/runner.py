"""Running a scenario on a :class:`~twin.runtime.Twin` as fast as possible, recorded.

The runner drives the plant directly (``twin.plant.run``) between the instants something is due,
on the plant's step grid (step index ``k`` is simulated time ``k × step_s`` from the start):

1. at each step index the scheduled ``[[action]]`` tables due there run, in time order and then
   file order (an ``at_s`` between steps runs at the first step at or after it);
2. every ``check_every_s`` (default: the record interval) the runner samples a frame of every
   channel; every ``record_every_s`` (and at the end) that frame is appended to the store;
3. triggers are evaluated on that frame; a trigger whose condition has held on every checked
   frame from ``t_first`` to now, with ``now − t_first ≥ for_s``, fires: its actions run at once
   (after the frame, so the next frame shows their effect); ``once = false`` re-arms it when the
   condition stops holding;
4. channel expectations are evaluated afterwards over the checked frames whose time lies in
   ``[from_s, to_s]``.

Every action goes through ``twin.commands.call(name, args, user="scenario", role="engineer")``,
so it is checked and logged like any other command; the runner copies the command log and the
twin's events into the store. Time-control commands (Pause, Resume, SetSpeed, Step, RunUntil)
go through the same path and change the twin's clock, which a batch run does not consult.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.commands import Event
from twin.runtime import Twin
from twin.scenario.spec import Action, Expectation, Scenario, Trigger, compare
from twin.store import RunStore

USER = "scenario"
ROLE = "engineer"


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    name: str
    rule: str
    passed: bool
    measured: str  # one line with the values that decided it
    values: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True, slots=True)
class ActionResult:
    t_s: float
    key: str
    command: str
    args: dict[str, Any]
    ok: bool
    status: str
    message: str


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    name: str
    source: str
    seed: int
    outcome: str  # the documented outcome: "pass" or "fail"
    expectations: tuple[ExpectationResult, ...]
    actions: tuple[ActionResult, ...]
    fired: dict[str, list[float]]
    duration_s: float
    frames_recorded: int
    frames_checked: int
    wall_s: float
    out_dir: str = ""

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.expectations) and all(a.ok for a in self.actions)

    @property
    def as_documented(self) -> bool:
        return self.passed == (self.outcome == "pass")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "seed": self.seed,
            "outcome": self.outcome, "passed": self.passed, "duration_s": self.duration_s,
            "wall_s": self.wall_s, "frames_recorded": self.frames_recorded,
            "frames_checked": self.frames_checked, "fired": self.fired,
            "expectations": [{"name": e.name, "rule": e.rule, "passed": e.passed,
                              "measured": e.measured, "values": e.values}
                             for e in self.expectations],
            "actions": [{"t_s": a.t_s, "key": a.key, "command": a.command, "args": a.args,
                         "status": a.status, "message": a.message} for a in self.actions],
        }


class ScenarioRunner:
    """Runs one :class:`Scenario` on a twin, optionally recording into a :class:`RunStore`."""

    def __init__(self, scenario: Scenario, twin: Twin | None = None,
                 store: RunStore | None = None, progress: bool = False) -> None:
        self.sc = scenario
        self.twin = twin if twin is not None else Twin(scenario.config, seed=scenario.seed)
        self.store = store
        self.progress = progress
        self.cat = self.twin.catalogue
        self.labels: dict[str, int] = {}
        self.results: list[ActionResult] = []
        self.fired: dict[str, list[float]] = {t.name: [] for t in scenario.triggers}
        self._since: dict[str, float | None] = {t.name: None for t in scenario.triggers}
        self._spent: set[str] = set()
        self._logged = len(self.twin.commands.log)
        self.times: list[float] = []
        self.columns = sorted({self.cat[e.channel].index for e in scenario.expectations
                               if e.kind == "channel"})
        self.samples: list[np.ndarray] = []
        self.recorded = 0
        self.t_start = self.twin.plant.t_s
        if store is not None:
            self.twin.on_event(self._event)

    # --- the run ---------------------------------------------------------------------------
    def run(self) -> ScenarioResult:
        from twin.simulate import ProgressBar

        sc, plant = self.sc, self.twin.plant
        step = sc.step_s
        n = round(sc.duration_s / step)
        check = round(sc.check_every_s / step)
        record = round(sc.info.record_every_s / step)
        t_start = self.t_start = plant.t_s
        due: dict[int, list[Action]] = {}
        for a in sc.actions:
            due.setdefault(math.ceil((a.at_s or 0.0) / step - 1e-9), []).append(a)
        stops = sorted(set(due) | set(range(0, n + 1, check)) | {n})
        bar = ProgressBar(n, enabled=self.progress)
        wall0 = time.perf_counter()
        k = 0
        for stop in stops:
            if stop > k:
                plant.run(stop - k, step)
                self.twin.clock.advanced(stop - k, plant.t_s)
                k = stop
            for a in due.get(k, ()):
                self._call(a)
            if k % check == 0 or k == n:
                frame = self.cat.sample(plant)
                t = plant.t_s - t_start
                if self.store is not None and (k % record == 0 or k == n):
                    self.store.append(plant.t_s, frame)
                    self.recorded += 1
                self.times.append(t)
                self.samples.append(frame[self.columns])
                for trig in sc.triggers:
                    self._evaluate(trig, t, float(frame[self.cat[trig.when.channel].index]))
            bar.update(k, plant.t_s)
        wall = time.perf_counter() - wall0
        bar.close()
        self.twin.refresh()
        self._flush_commands()
        expectations = tuple(self._expectation(e) for e in sc.expectations)
        if self.store is not None:
            self.store.flush()
        return ScenarioResult(sc.name, sc.source, plant.seed, sc.info.outcome, expectations,
                              tuple(self.results), self.fired, sc.duration_s, self.recorded,
                              len(self.times), wall)

    # --- actions and records ---------------------------------------------------------------
    def _call(self, a: Action, why: str = "") -> None:
        args = dict(a.args)
        if a.command == "ClearFault" and isinstance(args.get("fault_id"), str):
            args["fault_id"] = self.labels.get(args["fault_id"], 0)
        if why:
            self.twin.event("scenario", 400, f"{self.sc.name}: {why}: {a.command} {args}",
                            scenario=self.sc.name, key=a.key)
        res = self.twin.commands.call(a.command, args, user=USER, role=ROLE)
        if res.ok and a.command == "InjectFault" and a.label:
            self.labels[a.label] = int(res.data)
        self.results.append(ActionResult(self.twin.plant.t_s, a.key, a.command, args, res.ok,
                                         res.status, res.message))
        self._flush_commands()

    def _flush_commands(self) -> None:
        log = self.twin.commands.log
        if self.store is not None:
            for rec in log[self._logged:]:
                self.store.record_command(rec.sim_s, rec.user, rec.command, rec.args,
                                          rec.status, {"role": rec.role, "message": rec.message},
                                          wall_time=rec.wall_s)
        self._logged = len(log)

    def _event(self, ev: Event) -> None:
        assert self.store is not None
        self.store.record_event(ev.sim_s, max(1, min(1000, ev.severity)), "twin", ev.kind,
                                ev.message, ev.data, wall_time=ev.wall_s)

    # --- triggers --------------------------------------------------------------------------
    def _evaluate(self, trig: Trigger, t: float, x: float) -> None:
        if trig.name in self._spent:
            return
        if not trig.when.holds(x):
            self._since[trig.name] = None
            return
        since = self._since[trig.name]
        if since is None:
            since = self._since[trig.name] = t
        if t - since >= trig.for_s - 1e-9:
            self.fired[trig.name].append(t)
            if trig.once:
                self._spent.add(trig.name)
            else:
                self._since[trig.name] = math.inf  # re-arms once the condition stops holding
            for a in trig.actions:
                self._call(a, f"trigger {trig.name!r} ({trig.when} for {trig.for_s:g} s, "
                           f"value {x:g})")

    # --- expectations ----------------------------------------------------------------------
    def _expectation(self, e: Expectation) -> ExpectationResult:
        if e.kind == "channel":
            return self._channel(e)
        if e.kind == "fault":
            return self._fault(e)
        times = [t for t in self.fired[e.trigger] if e.from_s - 1e-9 <= t <= e.to_s + 1e-9]
        ok = bool(times) == e.present
        text = (f"fired at {', '.join(f'{t:g} s' for t in times)}" if times
                else "did not fire")
        return ExpectationResult(e.name, e.rule(), ok, text, {"fired_s": times}, e.note)

    def _channel(self, e: Expectation) -> ExpectationResult:
        t = np.array(self.times)
        sel = (t >= e.from_s - 1e-9) & (t <= e.to_s + 1e-9)
        unit = self.cat[e.channel].unit
        u = f" {unit}" if unit else ""
        if not sel.any():
            return ExpectationResult(e.name, e.rule(), False, "no checked frame in the window",
                                     {}, e.note)
        col = self.columns.index(self.cat[e.channel].index)
        x = np.array(self.samples)[sel, col]
        tw = t[sel]
        frames = int(sel.sum())
        if e.stat == "reaches":
            hits = np.flatnonzero([compare(float(v), e.op, e.value) for v in x])
            best = int(np.argmax(x) if e.op in (">", ">=") else np.argmin(x))
            if hits.size:
                i = int(hits[0])
                return ExpectationResult(
                    e.name, e.rule(), True, f"reached {x[i]:g}{u} at {tw[i]:g} s",
                    {"value": float(x[i]), "t_s": float(tw[i]), "frames": frames}, e.note)
            return ExpectationResult(
                e.name, e.rule(), False,
                f"never reached; closest {x[best]:g}{u} at {tw[best]:g} s",
                {"value": float(x[best]), "t_s": float(tw[best]), "frames": frames}, e.note)
        if e.stat == "mean":
            v, at = float(np.mean(x)), None
        else:
            i = {"max": np.argmax, "min": np.argmin}.get(e.stat, lambda a: a.size - 1)(x)
            v, at = float(x[i]), float(tw[i])
        ok = compare(v, e.op, e.value)
        where = f" at {at:g} s" if at is not None else ""
        text = f"{e.stat} {v:g}{u}{where} over {frames} frames"
        return ExpectationResult(e.name, e.rule(), ok, text,
                                 {"value": v, "t_s": at, "frames": frames}, e.note)

    def _fault(self, e: Expectation) -> ExpectationResult:
        t0_us = round(self.t_start * 1e6)
        lo_us, hi_us = t0_us + round(e.from_s * 1e6), t0_us + round(e.to_s * 1e6)
        found = []
        for f in self.twin.plant.faults:
            if f.kind != e.fault or (e.target and f.target != e.target):
                continue
            if f.state == "pending":
                continue  # never became active
            end = f.end_us if f.end_us is not None else math.inf
            if f.start_us <= hi_us and end >= lo_us:
                found.append(f.describe())
        ok = bool(found) == e.present
        if found:
            text = "; ".join(f"fault {d['id']} {d['kind']} on {d['target']} active from "
                             f"{d['start_s']:g} s to "
                             f"{'end' if d['end_s'] is None else format(d['end_s'], 'g') + ' s'}"
                             for d in found)
        else:
            text = "no such fault active in the window"
        return ExpectationResult(e.name, e.rule(), ok, text, {"faults": found}, e.note)

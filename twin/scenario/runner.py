"""Running a scenario on a :class:`~twin.runtime.Twin` as fast as possible, recorded.

The runner drives the plant directly (``twin.plant.run``) between the instants something is due,
on the plant's step grid (step index ``k`` is simulated time ``k × step_s`` from the start):

1. at each step index the scheduled ``[[action]]`` tables due there run, in time order and then
   file order (an ``at_s`` between steps runs at the first step at or after it); then any
   other commands planned for that step before its frame (a what-if branch's);
2. every ``check_every_s`` (default: the record interval) the runner samples a frame of every
   channel and the twin's alarms are judged on it (the frame goes into the mirror, as a live
   twin's refresh does: :func:`twin.recording.judge_alarms`); every ``record_every_s`` (and at
   the end) that frame is appended to the store (and handed to the InfluxDB sink, if there is
   one);
3. triggers are evaluated on that frame; a trigger whose condition has held on every checked
   frame from ``t_first`` to now, with ``now − t_first ≥ for_s``, fires: its actions run at once
   (after the frame, so the next frame shows their effect); ``once = false`` re-arms it when the
   condition stops holding; then the other commands planned after that step's frame;
4. channel expectations are evaluated afterwards over the checked frames whose time lies in
   ``[from_s, to_s]`` (:mod:`twin.scenario.judge`).

Every action goes through ``twin.commands.call(name, args, user="scenario", role="engineer")``,
so it is checked and logged like any other command; the runner copies the command log (with the
side of the frame each command ran on, ``result["phase"]``) and the twin's events into the store,
alarm transitions also into its alarms table (:func:`twin.recording.record_event`, as the live
recorder does).
Time-control commands (Pause, Resume, SetSpeed, Step, RunUntil) go through the same path and
change the twin's clock, which a batch run does not consult.

Forks. :meth:`ScenarioRunner.advance` with ``history_k`` replays a recorded run's command log up
to and including step ``history_k`` instead of running the scenario's actions: the plant gets
exactly the recorded commands, while the timeline and the triggers are evaluated on the
re-simulated frames as they were in the recorded run. Each recorded scenario command is matched
to the timeline entry or trigger action it was, so after the replay the runner's
:meth:`~ScenarioRunner.state` (timeline entries done, triggers fired or spent, hold timers,
fault labels) is the recorded run's at that step, exactly; the scenario then carries on live.
The alarms are judged on the re-simulated frames too (so the alarm book's state is the recorded
run's), and a trigger that fires while replaying raises its ``scenario`` event as it did.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.commands import Event, Result
from twin.recording import judge_alarms, record_event
from twin.runtime import Twin
from twin.scenario.judge import judge
from twin.scenario.result import ActionResult, ExpectationResult, ScenarioResult, ScenarioState
from twin.scenario.spec import Action, Scenario, Trigger
from twin.store import RunStore

if TYPE_CHECKING:
    from twin.influx import InfluxSink

__all__ = ["ROLE", "USER", "ActionResult", "ExpectationResult", "Planned", "ScenarioResult",
           "ScenarioRunner", "ScenarioState"]

USER = "scenario"
ROLE = "engineer"
BEFORE, AFTER = "before", "after_frame"


@dataclass(frozen=True, slots=True)
class Planned:
    """A command at step index ``k``, before or after that step's frame (a recorded run's or a
    what-if branch's), for the user and role it is logged with."""

    k: int
    after_frame: bool
    command: str
    args: dict[str, Any]
    user: str
    role: str


class ScenarioRunner:
    """Runs one :class:`Scenario` on a twin, optionally recording into a :class:`RunStore`;
    or carries a recorded run's scenario on from any step (:meth:`advance` with ``history_k``,
    for forks), its :meth:`state` then being the recorded run's at that step."""

    def __init__(self, scenario: Scenario, twin: Twin | None = None,
                 store: RunStore | None = None, progress: bool = False,
                 influx: InfluxSink | None = None, end_s: float | None = None) -> None:
        """``influx``: a sink that gets every recorded frame (commands and events reach it by
        :meth:`~twin.influx.InfluxSink.attach`); ``end_s``: run to this time instead of the
        scenario's duration (a what-if branch's ``--until``)."""
        sc = self.sc = scenario
        self.twin = twin if twin is not None else Twin(scenario.config, seed=scenario.seed)
        self.store = store
        self.influx = influx
        self.progress = progress
        self.cat = self.twin.catalogue
        step = sc.step_s
        self.end_k = round((sc.duration_s if end_s is None else end_s) / step)
        self.check = round(sc.check_every_s / step)
        self.record = round(sc.info.record_every_s / step)
        self.due: dict[int, list[Action]] = {}
        for a in sc.actions:
            self.due.setdefault(math.ceil((a.at_s or 0.0) / step - 1e-9), []).append(a)
        self.k = -1  # the last step index whose business is done (-1: none yet)
        self.labels: dict[str, int] = {}
        self.results: list[ActionResult] = []
        self.calls: list[dict[str, Any]] = []  # every command this runner made or replayed
        self.mismatches: list[str] = []  # replayed records that were not what the scenario says
        self.fired: dict[str, list[float]] = {t.name: [] for t in sc.triggers}
        self._since: dict[str, float | None] = {t.name: None for t in sc.triggers}
        self._spent: set[str] = set()
        self._logged = len(self.twin.commands.log)
        self.times: list[float] = []
        self.columns = sorted({self.cat[e.channel].index for e in sc.expectations
                               if e.kind == "channel"})
        self.samples: list[np.ndarray] = []
        self.recorded = 0
        self.last_frame: np.ndarray | None = None
        self.wall_s = 0.0
        self.t_start = self.twin.plant.t_s
        self._why: dict[int, str] = {}  # id of a replayed trigger action → why it ran
        self.twin.on_event(self._event)

    # --- the run ---------------------------------------------------------------------------
    def run(self) -> ScenarioResult:
        """The whole scenario from its start; the result."""
        self.advance(self.end_k)
        return self.finish()

    def advance(self, until_k: int, plan: Sequence[Planned] = (), history_k: int = -1,
                keep_frame: bool = False) -> None:
        """Do the business of steps ``self.k + 1`` to ``until_k`` (see the module docstring).

        ``plan``: other commands at their step indexes. Up to and including ``history_k`` the
        plan is a recorded run's whole command log: its scenario records stand for the timeline
        entries and trigger actions due there (matched, not run twice). ``keep_frame``: keep
        the frame at ``until_k`` (sampled after the commands before it) in ``last_frame``.
        """
        from twin.simulate import ProgressBar

        plant, step = self.twin.plant, self.sc.step_s
        k0 = self.k + 1
        if until_k < k0:
            return
        by_k: dict[int, list[Planned]] = {}
        for p in plan:
            if k0 <= p.k <= until_k:
                by_k.setdefault(p.k, []).append(p)
        stops = sorted({k for k in self.due if k0 <= k <= until_k} | set(by_k)
                       | set(range(-(-k0 // self.check) * self.check, until_k + 1, self.check))
                       | ({self.end_k} if k0 <= self.end_k <= until_k else set()) | {until_k})
        at = at0 = round((plant.t_s - self.t_start) / step)
        bar = ProgressBar(until_k - at0, enabled=self.progress)
        wall0 = time.perf_counter()
        for k in stops:
            if k > at:
                plant.run(k - at, step)
                self.twin.clock.advanced(k - at, plant.t_s)
                at = k
            replay = k <= history_k
            todo = by_k.get(k, [])
            if replay:
                timeline = list(self.due.get(k, ()))
                for p in todo:
                    if not p.after_frame:
                        self._replay(p, timeline)
                self._unmatched(timeline, k, "timeline")
            else:
                for a in self.due.get(k, ()):
                    self._act(a)
                for p in todo:
                    if not p.after_frame:
                        self.call(p)
            frame, triggered = self._check(k, replay)
            if k == until_k and keep_frame:
                self.last_frame = frame if frame is not None else self.cat.sample(plant)
            for p in todo:
                if p.after_frame:
                    if replay:
                        self._replay(p, triggered)
                    else:
                        self.call(p)
            if replay:
                self._unmatched(triggered, k, "trigger")
            self.k = k
            bar.update(k - at0, plant.t_s)
        self.wall_s += time.perf_counter() - wall0
        bar.close()

    def _check(self, k: int, replay: bool) -> tuple[np.ndarray | None, list[Action]]:
        """Step ``k``'s frame if it is a check (recorded if a record step) and the triggers;
        returns the frame and, when replaying, the actions of the triggers that fired."""
        if k % self.check and k != self.end_k:
            return None, []
        plant = self.twin.plant
        frame = self.cat.sample(plant)
        t = plant.t_s - self.t_start
        judge_alarms(self.twin, frame)
        if k % self.record == 0 or k == self.end_k:
            if self.store is not None:
                self.store.append(plant.t_s, frame)
            if self.influx is not None:
                self.influx.write_frame(plant.t_s, frame)
            self.recorded += 1
        return frame, self._observe(t, frame, replay)

    def _observe(self, t: float, frame: np.ndarray, replay: bool = False) -> list[Action]:
        """A checked frame at run time ``t``: kept for the expectations, and the triggers
        evaluated on it; their actions run, or (``replay``) are returned."""
        self.times.append(t)
        self.samples.append(frame[self.columns])
        triggered: list[Action] = []
        for trig in self.sc.triggers:
            x = float(frame[self.cat[trig.when.channel].index])
            if self._evaluate(trig, t, x):
                why = f"trigger {trig.name!r} ({trig.when} for {trig.for_s:g} s, value {x:g})"
                if replay:
                    triggered.extend(trig.actions)
                    self._why.update((id(a), why) for a in trig.actions)
                else:
                    for a in trig.actions:
                        self._act(a, why)
        return triggered

    def finish(self) -> ScenarioResult:
        """Judge the expectations on everything seen; commit the store; the result."""
        self.twin.refresh()
        return self.verdict()

    def verdict(self) -> ScenarioResult:
        """The expectations judged on the frames checked so far; the store committed."""
        self._flush_commands(BEFORE)
        samples = np.array(self.samples).reshape(len(self.times), len(self.columns))
        expectations = tuple(
            judge(e, self.cat, self.times, samples, self.columns, self.fired,
                  self.twin.plant.faults, self.t_start) for e in self.sc.expectations)
        if self.store is not None:
            self.store.flush()
        sc = self.sc
        return ScenarioResult(sc.name, sc.source, self.twin.plant.seed, sc.info.outcome,
                              expectations, tuple(self.results), self.fired,
                              self.end_k * sc.step_s, self.recorded, len(self.times),
                              self.wall_s)

    def state(self) -> ScenarioState:
        """Where the run stands now: everything needed, with the plant, to carry it on."""
        done = [a.key for k, acts in sorted(self.due.items()) if k <= self.k for a in acts]
        todo = [a.key for k, acts in sorted(self.due.items()) if k > self.k for a in acts]
        names = [t.name for t in self.sc.triggers]
        return ScenarioState(
            self.k, self.k * self.sc.step_s, tuple(done), tuple(todo),
            {n: list(v) for n, v in self.fired.items()},
            {n: (None if self._since[n] in (None, math.inf) else self._since[n])
             for n in names if n not in self._spent},
            tuple(n for n in names if self._since[n] == math.inf),
            tuple(n for n in names if n in self._spent), dict(self.labels))

    # --- commands and records --------------------------------------------------------------
    def call(self, p: Planned) -> Result:
        """A command from outside the scenario (a what-if branch's), logged and recorded."""
        res = self.twin.commands.call(p.command, p.args, user=p.user, role=p.role)
        self._flush_commands(AFTER if p.after_frame else BEFORE, res.data)
        return res

    def _act(self, a: Action, why: str = "") -> None:
        args = self._args(a)
        if why:
            self._why_event(a, why, args)
        res = self.twin.commands.call(a.command, args, user=USER, role=ROLE)
        self._done(a, res, args)
        self._flush_commands(AFTER if why else BEFORE, res.data)

    def _args(self, a: Action) -> dict[str, Any]:
        args = dict(a.args)
        if a.command == "ClearFault" and isinstance(args.get("fault_id"), str):
            args["fault_id"] = self.labels.get(args["fault_id"], 0)
        return args

    def _why_event(self, a: Action, why: str, args: dict[str, Any]) -> None:
        self.twin.event("scenario", 400, f"{self.sc.name}: {why}: {a.command} {args}",
                        scenario=self.sc.name, key=a.key)

    def _replay(self, p: Planned, expected: list[Action]) -> None:
        """Re-apply a recorded command; a scenario record stands for the next ``expected``
        (a trigger's action raises its event first, as it did in the recorded run)."""
        match = (p.user == USER and bool(expected) and expected[0].command == p.command)
        if match and id(expected[0]) in self._why:
            self._why_event(expected[0], self._why.pop(id(expected[0])), self._args(expected[0]))
        res = self.twin.commands.call(p.command, p.args, user=p.user, role=p.role)
        self._flush_commands(AFTER if p.after_frame else BEFORE, res.data)
        if p.user != USER:
            return
        if match:
            self._done(expected.pop(0), res, dict(p.args))
            return
        t = self.twin.plant.t_s - self.t_start
        self.mismatches.append(f"{t:g} s: recorded {p.command} {p.args} is no action the "
                               "scenario has due there")
        self.results.append(ActionResult(self.twin.plant.t_s, "history", p.command,
                                         dict(p.args), res.ok, res.status, res.message))

    def _unmatched(self, left: list[Action], k: int, what: str) -> None:
        for a in left:
            self._why.pop(id(a), None)
            self.mismatches.append(f"{k * self.sc.step_s:g} s: {what} {a.key} ({a.command}) "
                                   "is not in the recorded commands")
        left.clear()

    def _done(self, a: Action, res: Result, args: dict[str, Any]) -> None:
        if res.ok and a.command == "InjectFault" and a.label:
            self.labels[a.label] = int(res.data)
        self.results.append(ActionResult(self.twin.plant.t_s, a.key, a.command, args, res.ok,
                                         res.status, res.message))

    def _flush_commands(self, phase: str, data: Any = None) -> None:
        log = self.twin.commands.log
        for rec in log[self._logged:]:
            self.calls.append({"t_s": rec.sim_s, "command": rec.command, "args": rec.args,
                               "status": rec.status, "user": rec.user})
            if self.store is not None:
                self.store.record_command(
                    rec.sim_s, rec.user, rec.command, rec.args, rec.status,
                    {"role": rec.role, "message": rec.message, "phase": phase,
                     "data": data if isinstance(data, int) else None}, wall_time=rec.wall_s)
        self._logged = len(log)

    def _event(self, ev: Event) -> None:
        if self.store is not None:
            record_event(self.store, ev)

    # --- triggers --------------------------------------------------------------------------
    def _evaluate(self, trig: Trigger, t: float, x: float) -> bool:
        """Update the trigger's state with the value checked at ``t``; True if it fires."""
        if trig.name in self._spent:
            return False
        if not trig.when.holds(x):
            self._since[trig.name] = None
            return False
        since = self._since[trig.name]
        if since is None:
            since = self._since[trig.name] = t
        if t - since < trig.for_s - 1e-9:
            return False
        self.fired[trig.name].append(t)
        if trig.once:
            self._spent.add(trig.name)
        else:
            self._since[trig.name] = math.inf  # re-arms once the condition stops holding
        return True

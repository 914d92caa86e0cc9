"""Re-simulation and what-if branches of a recorded run.

:func:`resimulate` rebuilds the satellite from the run's stored config text, seed and step, and
re-applies the recorded command log through the one command path, each command at its recorded
simulated time (on the plant's step grid) and on the same side of that instant's frame as in the
original: a scenario's scheduled actions run before the frame, its triggers' actions after it
(read from the stored scenario result); commands this module records carry their side in the
result (``"phase"``). Frames are recorded at the original's tick times. A simulated run comes
out bit for bit equal.

:func:`fork` re-simulates to ``at_s`` (on the step grid), applies other commands and faults there
and continues, into a branch made by :meth:`twin.store.RunStore.branch`: the parent's ticks and
records up to the fork are copied, ``meta`` names the parent and the fork time, and
``meta.extra["fork"]`` the actions. A recording of real boards (no seed) starts the plant from
the recorded frame at the fork (:mod:`twin.replay.measured`) and lists the estimated states.

A fork of a scenario run (``meta.extra["scenario_text"]``) carries the scenario on: the
re-simulation to the fork goes through the :class:`~twin.scenario.ScenarioRunner`, which
replays the recorded commands and evaluates the timeline and triggers on the way, so that at
the fork its state (timeline entries run, triggers fired or spent, hold timers, fault labels;
``meta.extra["fork"]["scenario_state"]``) is the parent's there, exactly. After the fork the
remaining timeline runs and the triggers are evaluated on the branch's own frames: a trigger the
parent fired may not fire, one it did not may. The branch's expectations are judged on the whole
branch (``meta.extra["scenario_result"]``, ``scenario-result.json``); :attr:`ForkResult.scenario`
and the parent's result say which expectations the other decision changed.

``influx`` (both functions): also send what the new run records to InfluxDB, as
:func:`twin.influx.sink_for` decides, tagged with the new run's id and the scenario; a branch
sends what it adds after the fork (the history before it is its parent's).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.commands import Event
from twin.config import parse_satellite
from twin.errors import TwinError
from twin.runtime import Twin
from twin.scenario import Planned, Scenario, ScenarioResult, ScenarioRunner, ScenarioState
from twin.scenario.runner import USER
from twin.store import RunMeta, RunStore

if TYPE_CHECKING:
    from twin.influx import InfluxSink

WHAT_IF_USER = "what-if"


@dataclass(frozen=True, slots=True)
class Action:
    """A command for a branch: at ``t_s`` (None: at the fork), through the command path."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)
    t_s: float | None = None
    user: str = WHAT_IF_USER
    role: str = "engineer"


@dataclass(frozen=True, slots=True)
class ForkResult:
    out_dir: Path
    fork_t_s: float
    end_s: float
    frames: int
    commands: list[dict[str, Any]]
    estimated: list[str]
    measured: list[str]
    matched_parent: bool | None  # the re-simulated frame at the fork equals the parent's
    scenario: ScenarioResult | None = None  # a scenario's branch: judged on the branch
    parent_scenario: dict[str, Any] | None = None  # the parent's stored scenario result
    scenario_state: ScenarioState | None = None  # the scenario's state at the fork
    warnings: tuple[str, ...] = ()  # recorded commands the scenario does not explain
    influx: str = ""  # where the InfluxDB points went, when there was a sink


def parse_action(text: str) -> Action:
    """``"[@T] Command key=value ..."``: values are JSON where they parse, else strings.

    ``"@600 InjectFault kind=pump_failure target=thermal.pump.2"``, ``"SetLoadShedLevel level=2"``.
    """
    parts = text.split()
    t_s = None
    if parts and parts[0].startswith("@"):
        from twin.cli import parse_duration

        try:
            t_s = parse_duration(parts.pop(0)[1:])
        except Exception as exc:
            raise TwinError(f"action {text!r}: {exc}") from None
    if not parts:
        raise TwinError(f"action {text!r}: expected '[@T] Command key=value ...'")
    args: dict[str, Any] = {}
    for kv in parts[1:]:
        key, eq, val = kv.partition("=")
        if not eq or not key:
            raise TwinError(f"action {text!r}: {kv!r} is not key=value")
        try:
            args[key] = json.loads(val)
        except json.JSONDecodeError:
            args[key] = val
    return Action(parts[0], args, t_s)


def load_config(meta: RunMeta) -> Any:
    if not meta.config_text:
        raise TwinError("the run does not hold its satellite config text; cannot re-simulate")
    return parse_satellite(meta.config_text, meta.config_source or "<run>").config


def _us(t_s: float) -> int:
    return round(t_s * 1e6)


def plan_commands(run: RunStore, step_us: int) -> list[Planned]:
    """The run's command log as planned calls: step index and side of the frame.

    The side is the record's ``result["phase"]``; records without one (scenario runs made
    before it was recorded) are matched in order with the stored scenario result's actions:
    a trigger's actions ran after the frame.
    """
    records = run.commands()
    actions = (run.meta.extra.get("scenario_result") or {}).get("actions") or []
    trig = iter([str(a.get("key", "")).startswith("trigger") for a in actions])
    out = []
    for rec in records:
        res = rec.result if isinstance(rec.result, dict) else {}
        after = next(trig, False) if rec.user == USER else False
        if "phase" in res:
            after = res["phase"] == "after_frame"
        out.append(Planned(_us(rec.t_s) // step_us, after, rec.name, dict(rec.args), rec.user,
                           str(res.get("role", "engineer"))))
    return out


class _Driver:
    """Steps a twin on the grid, applying planned commands and recording frames."""

    def __init__(self, twin: Twin, step_us: int, progress: bool = False) -> None:
        self.twin = twin
        self.step_us = step_us
        self.store: RunStore | None = None
        self.influx: InfluxSink | None = None
        self.progress = progress
        self.frames = 0
        self.calls: list[dict[str, Any]] = []
        twin.on_event(self._event)

    def _event(self, ev: Event) -> None:
        if self.store is not None:
            self.store.record_event(ev.sim_s, max(1, min(1000, ev.severity)), "twin", ev.kind,
                                    ev.message, ev.data, wall_time=ev.wall_s)

    def call(self, p: Planned) -> None:
        res = self.twin.commands.call(p.command, p.args, user=p.user, role=p.role)
        rec = self.twin.commands.log[-1]
        if self.store is not None:
            self.store.record_command(rec.sim_s, rec.user, rec.command, rec.args, rec.status,
                                      {"role": rec.role, "message": rec.message,
                                       "phase": "after_frame" if p.after_frame else "before",
                                       "data": res.data if isinstance(res.data, int) else None},
                                      wall_time=rec.wall_s)
        self.calls.append({"t_s": rec.sim_s, "command": rec.command, "args": rec.args,
                           "status": rec.status, "user": rec.user})

    def run(self, until_k: int, plan: Sequence[Planned], frame_ks: Iterable[int],
            last_frame: bool = True) -> np.ndarray | None:
        """Step to ``until_k``; commands and frames at each index; returns the last frame
        sampled at ``until_k`` (recorded if a store is set and ``until_k`` is a frame index)."""
        from twin.simulate import ProgressBar

        plant = self.twin.plant
        k0 = plant.state.t_us // self.step_us
        by_k: dict[int, list[Planned]] = {}
        for p in plan:
            if k0 <= p.k <= until_k:
                by_k.setdefault(p.k, []).append(p)
        fk = {k for k in frame_ks if k0 <= k <= until_k}
        stops = sorted(set(by_k) | fk | {until_k})
        bar = ProgressBar(until_k - k0, enabled=self.progress)
        step_s = self.step_us / 1e6
        k, frame = k0, None
        for stop in stops:
            if stop > k:
                plant.run(stop - k, step_s)
                self.twin.clock.advanced(stop - k, plant.t_s)
                k = stop
            todo = by_k.get(k, [])
            for p in todo:
                if not p.after_frame:
                    self.call(p)
            if k in fk or (k == until_k and last_frame):
                frame = self.twin.catalogue.sample(plant)
                if self.store is not None and k in fk:
                    self.store.append(plant.t_s, frame)
                    if self.influx is not None:
                        self.influx.write_frame(plant.t_s, frame)
                    self.frames += 1
            for p in todo:
                if p.after_frame:
                    self.call(p)
            bar.update(k - k0, plant.t_s)
        bar.close()
        return frame


def _new_twin(run: RunStore, out_dir: Path | None) -> tuple[Twin, int]:
    cfg = load_config(run.meta)
    step = run.meta.step_s or cfg.simulation.step_s
    if abs(step - cfg.simulation.step_s) > 1e-12:
        cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation,
                                                                      step_s=step))
    twin = Twin(cfg, seed=run.meta.seed, state_dir=out_dir)
    return twin, _us(step)


def resimulate(run_dir: str | Path, out_dir: str | Path, progress: bool = False,
               influx: str | bool | None = False) -> Path:
    """Re-run a simulated recording into ``out_dir`` from its config, seed and command log."""
    return resimulate_run(run_dir, out_dir, progress, influx)[0]


def resimulate_run(run_dir: str | Path, out_dir: str | Path, progress: bool = False,
                   influx: str | bool | None = False) -> tuple[Path, str]:
    """:func:`resimulate`, and one line saying where the InfluxDB points went ("" if none)."""
    from twin.influx import close_run_sink, sink_for

    out = Path(out_dir)
    with RunStore.open(run_dir) as run:
        if run.meta.seed is None:
            raise TwinError(f"{run_dir}: a recording of real boards has no seed; it can be "
                            "replayed and forked, not re-simulated")
        twin, step_us = _new_twin(run, out)
        times, _ = run.read_channel(run.channels()[0].path)
        if times.size == 0:
            raise TwinError(f"{run_dir}: the run holds no ticks")
        ks = [_us(t) // step_us for t in times]
        plan = plan_commands(run, step_us)
        meta = _replace_meta(run.meta, resimulated_from=str(Path(run_dir)))
        drv = _Driver(twin, step_us, progress)
        with RunStore.create(out, twin.catalogue, meta, block_ticks=run.block_ticks) as store:
            drv.store = store
            drv.influx = sink_for(twin.config, twin.catalogue, influx, run=store.meta)
            if drv.influx is not None:
                drv.influx.attach(twin, frames=False)
            try:
                drv.run(ks[-1], plan, ks)
            finally:
                text = close_run_sink(drv.influx)
    return out, text


def scenario_of(meta: RunMeta, config: Any) -> Scenario | None:
    """The scenario a run was made by (a scenario run or a branch of one), checked against the
    run's own satellite ``config``; None for other runs."""
    text = meta.extra.get("scenario_text")
    if not text or meta.seed is None:
        return None
    from twin.scenario import parse_scenario

    sc = parse_scenario(str(text), str(meta.extra.get("scenario_source") or "<run>"), config)
    return dataclasses.replace(sc, seed=meta.seed)


def fork(run_dir: str | Path, at_s: float, out_dir: str | Path,
         actions: Sequence[Action] = (), end_s: float | None = None,
         keep_future: bool = False, progress: bool = False,
         influx: str | bool | None = False) -> ForkResult:
    """A what-if branch of ``run_dir`` from ``at_s`` with ``actions``, recorded in ``out_dir``.

    ``keep_future`` also re-applies the parent's commands after the fork (only the ``actions``
    change; for a scenario run, the commands that were not the scenario's: the scenario carries
    on by itself); otherwise only ``actions`` (and a scenario's timeline and triggers) happen
    after it. The branch runs to ``end_s`` (default: the parent's end) with frames at the
    parent's tick times, then every ``record_every_s`` (a scenario's branch: on the scenario's
    record grid, and at the end).
    """
    out = Path(out_dir)
    with RunStore.open(run_dir) as parent:
        span = parent.time_range()
        if span is None:
            raise TwinError(f"{run_dir}: the run holds no ticks to fork from")
        twin, step_us = _new_twin(parent, out)
        fork_k = _us(min(max(at_s, span[0]), span[1])) // step_us
        fork_t = fork_k * step_us / 1e6
        end = span[1] if end_s is None else float(end_s)
        if end <= fork_t:
            raise TwinError(f"end {end:g} s: expected after the fork at {fork_t:g} s")
        sc = scenario_of(parent.meta, twin.config)
        if sc is not None:
            return _fork_scenario(parent, sc, twin, step_us, fork_k, end, actions, keep_future,
                                  out, progress, influx)
        measured_run = parent.meta.seed is None
        times, _ = parent.read_channel(parent.channels()[0].path)
        plan = plan_commands(parent, step_us)
        drv = _Driver(twin, step_us, progress)
        measured: list[str] = []
        estimated: list[str] = []
        matched: bool | None = None
        if measured_run:
            from twin.replay.measured import start_from_frame

            frame = parent.read_instant(fork_t)
            measured, estimated = start_from_frame(twin.plant, twin.catalogue, frame, fork_t)
            twin.clock.sim_s = twin.plant.t_s
        else:
            ks = [_us(t) // step_us for t in times if t <= fork_t]
            frame = drv.run(fork_k, [p for p in plan if p.k < fork_k or (
                p.k == fork_k and not p.after_frame)], ks)
            if fork_k in set(ks):
                matched = bool(np.array_equal(frame, parent.read_instant(fork_t), equal_nan=True))
            for p in plan:  # commands on the fork tick after its frame: part of the history
                if p.k == fork_k and p.after_frame:
                    drv.call(p)
        every_us = _us(parent.meta.record_every_s or step_us / 1e6)
        after = [_us(t) // step_us for t in times if fork_t < t <= end]
        last = _us(times[-1])
        k = (last + every_us) // step_us
        while k * step_us <= _us(end):
            after.append(k)
            k += every_us // step_us or 1
        end_k = _us(end) // step_us
        if not after or after[-1] != end_k:
            after.append(end_k)
        new_plan = _new_plan(actions, fork_k, step_us,
                             [p for p in plan if p.k > fork_k] if keep_future else [])
        meta = _branch_meta(parent.meta, fork_t, actions, keep_future, end, estimated, measured)
    from twin.influx import close_run_sink

    with RunStore.branch(run_dir, out, fork_t, meta) as store:
        drv.store = store
        drv.calls = []
        drv.influx = _branch_sink(twin, store, influx)
        try:
            for p in (q for q in new_plan if q.k == fork_k and q.after_frame):
                drv.call(p)
            drv.run(end_k, [p for p in new_plan if p.k > fork_k], after)
        finally:
            text = close_run_sink(drv.influx)
    return ForkResult(out, fork_t, end, drv.frames, drv.calls, estimated, measured, matched,
                      influx=text)


def _fork_scenario(parent: RunStore, sc: Scenario, twin: Twin, step_us: int, fork_k: int,
                   end: float, actions: Sequence[Action], keep_future: bool, out: Path,
                   progress: bool, influx: str | bool | None) -> ForkResult:
    """A branch of a scenario run: the scenario's state restored at the fork, carried on."""
    if _us(sc.step_s) != step_us:
        raise TwinError(f"{parent.directory}: the run's step ({step_us / 1e6:g} s) is not its "
                        f"scenario's ({sc.step_s:g} s); cannot carry the scenario on")
    fork_t = fork_k * step_us / 1e6
    times, _ = parent.read_channel(parent.channels()[0].path)
    plan = plan_commands(parent, step_us)
    runner = ScenarioRunner(sc, twin, progress=progress, end_s=end)
    runner.advance(fork_k, [p for p in plan if p.k <= fork_k], history_k=fork_k,
                   keep_frame=True)
    matched = None
    if np.any(times == fork_t):
        matched = bool(np.array_equal(runner.last_frame, parent.read_instant(fork_t),
                                      equal_nan=True))
    state = runner.state()
    future = [p for p in plan if p.k > fork_k and p.user != USER] if keep_future else []
    new_plan = _new_plan(actions, fork_k, step_us, future)
    meta = _branch_meta(parent.meta, fork_t, actions, keep_future, end, [], [],
                        scenario_state=state.to_dict())
    parent_result = parent.meta.extra.get("scenario_result")
    before = runner.recorded
    from twin.influx import close_run_sink

    with RunStore.branch(parent.directory, out, fork_t, meta) as store:
        runner.store = store
        runner.influx = _branch_sink(twin, store, influx)
        runner.calls = []
        try:
            for p in (q for q in new_plan if q.k == fork_k):
                runner.call(p)
            runner.advance(runner.end_k, [p for p in new_plan if p.k > fork_k])
            result = runner.finish()
        finally:
            text = close_run_sink(runner.influx)
        result = dataclasses.replace(result, out_dir=str(out), fork_t_s=fork_t, influx=text)
        store.set_extra("scenario_result", result.to_dict())
    (out / "scenario-result.json").write_text(json.dumps(result.to_dict(), indent=1),
                                              encoding="utf-8")
    return ForkResult(out, fork_t, end, runner.recorded - before, runner.calls, [], [], matched,
                      result, parent_result if isinstance(parent_result, dict) else None,
                      state, tuple(runner.mismatches), text)


def _new_plan(actions: Sequence[Action], fork_k: int, step_us: int,
              future: Sequence[Planned]) -> list[Planned]:
    """The branch's commands: ``actions`` (at the fork: after its frame) and ``future``."""
    new_plan = []
    for a in actions:
        k = fork_k if a.t_s is None else max(fork_k, _us(a.t_s) // step_us)
        new_plan.append(Planned(k, k == fork_k, a.command, dict(a.args), a.user, a.role))
    new_plan += future
    new_plan.sort(key=lambda p: (p.k, p.after_frame))
    return new_plan


def _branch_meta(parent: RunMeta, fork_t: float, actions: Sequence[Action], keep_future: bool,
                 end: float, estimated: list[str], measured: list[str],
                 **more: Any) -> RunMeta:
    extra = {"fork": {"at_s": fork_t, "actions": [
        {"t_s": a.t_s, "command": a.command, "args": a.args} for a in actions],
        "keep_future": keep_future, "estimated_states": estimated,
        "measured_states": measured, **more}, "duration_s": end}
    return _replace_meta(parent, **extra)


def _branch_sink(twin: Twin, store: RunStore, influx: str | bool | None) -> InfluxSink | None:
    from twin.influx import sink_for

    sink = sink_for(twin.config, twin.catalogue, influx, run=store.meta)
    if sink is not None:
        sink.attach(twin, frames=False)
    return sink


def _replace_meta(meta: RunMeta, **extra: Any) -> RunMeta:
    keep = {k: v for k, v in meta.extra.items()
            if k in ("duration_s", "scenario", "scenario_source", "scenario_text")}
    return dataclasses.replace(meta, run_id="", created="", extra={**keep, **extra})


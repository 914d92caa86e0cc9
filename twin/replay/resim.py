"""Re-simulation and what-if branches of a recorded run.

:func:`resimulate` rebuilds the satellite from the run's stored config text, seed and step, and
re-applies the recorded command log through the one command path, each command at its recorded
simulated time (on the plant's step grid) and on the same side of that instant's frame as in the
original: a scenario's scheduled actions run before the frame, its triggers' actions after it
(read from the stored scenario result); commands this module records carry their side in the
result (``"phase"``; the live recorder writes it too). Frames are recorded at the original's
tick times and the alarms judged on the same frames as in the original, so a simulated run
comes out bit for bit equal, its events and alarm transitions included (a scenario run is re-run
through the :class:`~twin.scenario.ScenarioRunner`: checks, triggers and their events as
recorded). A live run of the model alone (origin ``"live"``) re-simulates too: the plant is the
truth and every input to it is in the command log; what is not reproduced is the live twin's
own clock and scenario state (``sim.mode``, ``sim.speed_x``, ``sim.behind_s``,
``sim.scenario.*``) and, with stub boards, their readings (``docs/review.md``). A measured run
(:attr:`twin.store.RunMeta.measured`: real boards) is refused.

:func:`fork` re-simulates to ``at_s`` (on the step grid), applies other commands and faults there
and continues, into a branch made by :meth:`twin.store.RunStore.branch`: the parent's ticks and
records up to the fork are copied, ``meta`` names the parent and the fork time, and
``meta.extra["fork"]`` the actions. A measured recording (real boards) starts the plant from
the recorded frame at the fork (:mod:`twin.replay.measured`) and lists the estimated states;
its branch keeps ``meta.extra["measured_history"]`` (it cannot be re-simulated either). The
state at the fork is checked against the recording on the channels a re-simulation reproduces
(:func:`twin.replay.driver.comparable`). Every new run holds the plant's energy books at its
end (J, since the plant started; a measured fork's since the fork) in
``meta.extra["energy_books"]``.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.config import parse_satellite
from twin.errors import TwinError
from twin.model.outputs import books
from twin.recording import judge_alarms, record_past_events
from twin.replay.driver import Driver, comparable, plan_commands
from twin.replay.driver import us as _us
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


def _new_twin(run: RunStore, out_dir: Path | None) -> tuple[Twin, int]:
    cfg = load_config(run.meta)
    step = run.meta.step_s or cfg.simulation.step_s
    if abs(step - cfg.simulation.step_s) > 1e-12:
        cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation,
                                                                      step_s=step))
    twin = Twin(cfg, seed=run.meta.seed, state_dir=out_dir)
    return twin, _us(step)


def _same(a: np.ndarray, b: np.ndarray, cols: np.ndarray) -> bool:
    """Whether two frames agree bit for bit on the channels ``cols`` (NaN equal to NaN)."""
    return bool(np.array_equal(a[cols], b[cols], equal_nan=True))


def resimulate(run_dir: str | Path, out_dir: str | Path, progress: bool = False,
               influx: str | bool | None = False) -> Path:
    """Re-run a simulated recording into ``out_dir`` from its config, seed and command log."""
    return resimulate_run(run_dir, out_dir, progress, influx)[0]


def resimulate_run(run_dir: str | Path, out_dir: str | Path, progress: bool = False,
                   influx: str | bool | None = False) -> tuple[Path, str]:
    """:func:`resimulate`, and lines saying where the InfluxDB points went and what the
    scenario did not explain ("" if nothing to say).

    A scenario run (or a branch of one) is re-run through the :class:`ScenarioRunner`, which
    replays the whole command log while evaluating the timeline and triggers, so that the
    checks (and the alarms judged on them), the trigger events and the expectations are the
    recorded run's; other runs through the :class:`~twin.replay.driver.Driver`, which judges
    the alarms on the recorded instants. The new run has the recorded run's channels (a live
    recording's ``hil.*`` channels are NaN: no boards re-run) and origin ``"simulated"``.
    """
    from twin.influx import close_run_sink, sink_for

    out = Path(out_dir)
    with RunStore.open(run_dir) as run:
        if run.meta.measured:
            raise TwinError(f"{run_dir}: a recording of real boards is measured (origin "
                            f"{run.meta.origin!r}, seed {run.meta.seed}): the plant did not "
                            "make its values, so it cannot be re-simulated; replay it, or fork "
                            "it (--fork T starts the plant from the recorded state at T)")
        twin, step_us = _new_twin(run, out)
        times, _ = run.read_channel(run.channels()[0].path)
        if times.size == 0:
            raise TwinError(f"{run_dir}: the run holds no ticks")
        ks = [_us(t) // step_us for t in times]
        plan = plan_commands(run, step_us)
        sc = scenario_of(run.meta, twin.config)
        meta = dataclasses.replace(_replace_meta(run.meta, resimulated_from=str(Path(run_dir))),
                                   origin="simulated")
        notes: list[str] = []
        with RunStore.create(out, run.channels(), meta, block_ticks=run.block_ticks) as store:
            record_past_events(store, twin)
            sink = sink_for(twin.config, twin.catalogue, influx, run=store.meta)
            if sink is not None:
                sink.attach(twin, frames=False)
            try:
                if sc is not None:
                    runner = ScenarioRunner(sc, twin, store, progress=progress, influx=sink,
                                            end_s=float(times[-1]) - twin.plant.t_s)
                    runner.advance(runner.end_k, plan, history_k=runner.end_k)
                    result = runner.finish()
                    store.set_extra("scenario_result",
                                    dataclasses.replace(result, out_dir=str(out)).to_dict())
                    notes += [f"warning: {m}" for m in runner.mismatches]
                else:
                    drv = Driver(twin, step_us, progress, width=len(run.channels()))
                    drv.store, drv.influx = store, sink
                    drv.run(ks[-1], plan, ks)
                store.set_extra("energy_books", books(twin.plant.params, twin.plant.state))
            finally:
                text = close_run_sink(sink)
    return out, "\n".join([*([text] if text else []), *notes])


def scenario_of(meta: RunMeta, config: Any) -> Scenario | None:
    """The scenario a run was made by (a scenario run or a branch of one), checked against the
    run's own satellite ``config``; None for other runs."""
    text = meta.extra.get("scenario_text")
    if not text or meta.measured:
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
        measured_run = parent.meta.measured
        times, _ = parent.read_channel(parent.channels()[0].path)
        plan = plan_commands(parent, step_us, until_s=np.inf if keep_future else fork_t)
        drv = Driver(twin, step_us, progress, width=len(parent.channels()))
        measured: list[str] = []
        estimated: list[str] = []
        matched: bool | None = None
        if measured_run:
            from twin.replay.measured import start_from_frame

            frame = parent.read_instant(fork_t)
            measured, estimated = start_from_frame(twin.plant, twin.catalogue, frame, fork_t)
            twin.clock.sim_s = twin.plant.t_s
            # the alarms as they stood at the fork (their transitions up to it are the parent's)
            judge_alarms(twin, frame[:len(twin.catalogue)])
        else:
            ks = [_us(t) // step_us for t in times if t <= fork_t]
            frame = drv.run(fork_k, [p for p in plan if p.k < fork_k or (
                p.k == fork_k and not p.after_frame)], ks)
            if fork_k in set(ks) and frame is not None:
                matched = _same(frame, parent.read_instant(fork_t), comparable(parent))
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
            store.set_extra("energy_books", books(twin.plant.params, twin.plant.state))
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
    if np.any(times == fork_t) and runner.last_frame is not None:
        matched = _same(runner.last_frame, parent.read_instant(fork_t), comparable(parent))
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
            store.set_extra("energy_books", books(twin.plant.params, twin.plant.state))
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
    if parent.measured:
        extra["measured_history"] = True
    return _replace_meta(parent, **extra)


def _branch_sink(twin: Twin, store: RunStore, influx: str | bool | None) -> InfluxSink | None:
    from twin.influx import sink_for

    sink = sink_for(twin.config, twin.catalogue, influx, run=store.meta)
    if sink is not None:
        sink.attach(twin, frames=False)
    return sink


def _replace_meta(meta: RunMeta, **extra: Any) -> RunMeta:
    keep = {k: v for k, v in meta.extra.items()
            if k in ("duration_s", "scenario", "scenario_source", "scenario_text",
                     "measured_history")}
    return dataclasses.replace(meta, run_id="", created="", extra={**keep, **extra})


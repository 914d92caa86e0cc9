"""Stepping a rebuilt twin through a recorded run's commands: the engine of re-simulation and
forks of runs that are not scenario runs (those go through the scenario runner).

:func:`plan_commands` turns a run's command log into planned calls (step index, side of the
frame); :class:`Driver` steps the plant on the grid, applies them, samples frames at the
recorded instants and judges the alarms on each (as the run that recorded them did:
:func:`twin.recording.judge_alarms`), recording frames, commands, events and alarm transitions
when it has a store.

Which channels are compared when a re-simulated frame is checked against a recording
(:func:`comparable`): every channel but the live twin's own clock and scenario state
(``sim.mode``, ``sim.speed_x``, ``sim.behind_s``, ``sim.scenario.*``: a batch run has none), the
boards' ``hil.*`` channels and the channels a board measured (those with a
``hil.residual.<path>``), which in a live recording are the boards' readings, not the plant's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.catalogue import CLOCK_CHANNELS
from twin.commands import Event
from twin.errors import TwinError
from twin.recording import judge_alarms, record_event
from twin.runtime import Twin
from twin.scenario import Planned
from twin.scenario.runner import USER
from twin.store import RunReader, RunStore

if TYPE_CHECKING:
    from twin.influx import InfluxSink

# a live scenario's own actions are in the log: starting it again would run them twice
NOT_REPLAYED = ("LoadScenario", "StartScenario", "StopScenario")


def us(t_s: float) -> int:
    return round(t_s * 1e6)


def plan_commands(run: RunReader, step_us: int, until_s: float = math.inf) -> list[Planned]:
    """The run's command log as planned calls: step index and side of the frame.

    The side is the record's ``result["phase"]``; records without one (scenario runs made
    before it was recorded) are matched in order with the stored scenario result's actions:
    a trigger's actions ran after the frame. Live-scenario control commands
    (:data:`NOT_REPLAYED`) are left out. TwinError for a run whose simulated time went back
    (``RestoreCheckpoint``) by ``until_s``: the plant's trajectory then is not one run on the
    step grid.
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
        if rec.name == "RestoreCheckpoint" and rec.status == "Good" and rec.t_s <= until_s:
            raise TwinError(f"{run.directory}: simulated time went back at {rec.t_s:g} s "
                            "(RestoreCheckpoint); a re-simulation cannot follow it")
        if rec.name in NOT_REPLAYED:
            continue
        out.append(Planned(us(rec.t_s) // step_us, after, rec.name, dict(rec.args), rec.user,
                           str(res.get("role", "engineer"))))
    return out


def comparable(run: RunReader) -> np.ndarray:
    """Indexes of the channels a re-simulation reproduces (see the module docstring)."""
    paths = {c.path for c in run.channels()}
    return np.array([c.index for c in run.channels()
                     if c.path not in CLOCK_CHANNELS
                     and not c.path.startswith(("sim.scenario.", "hil."))
                     and f"hil.residual.{c.path}" not in paths], dtype=np.intp)


class Driver:
    """Steps a twin on the grid, applying planned commands and recording frames.

    ``width``: the channels of the store it records into, when more than the twin's catalogue
    (a live recording's ``hil.*`` channels): the plant does not give those, they are NaN."""

    def __init__(self, twin: Twin, step_us: int, progress: bool = False,
                 width: int | None = None) -> None:
        self.twin = twin
        self.step_us = step_us
        self.store: RunStore | None = None
        self.influx: InfluxSink | None = None
        self.progress = progress
        self.frames = 0
        self.calls: list[dict[str, Any]] = []
        self.pad = max(0, (width or 0) - len(twin.catalogue))
        twin.on_event(self._event)

    def _event(self, ev: Event) -> None:
        if self.store is not None:
            record_event(self.store, ev)

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

    def widen(self, frame: np.ndarray) -> np.ndarray:
        """A frame of the twin's catalogue with the store's extra channels (NaN) after it."""
        return np.concatenate([frame, np.full(self.pad, np.nan)]) if self.pad else frame

    def run(self, until_k: int, plan: Sequence[Planned], frame_ks: Iterable[int],
            last_frame: bool = True) -> np.ndarray | None:
        """Step to ``until_k``; commands and frames at each index (the alarms judged on each
        frame index's frame); returns the last frame sampled at ``until_k`` (recorded if a
        store is set and ``until_k`` is a frame index), widened to the store's channels."""
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
                sampled = self.twin.catalogue.sample(plant)
                frame = self.widen(sampled)
                if k in fk:
                    judge_alarms(self.twin, sampled)
                    if self.store is not None:
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

"""Live recording: a running twin into an embedded run store, by default.

:class:`LiveRecorder` listens to a :class:`~twin.runtime.Twin` and records every mirror frame it
publishes (one tick per new simulated time: what the twin showed, boards' values included),
every command (who, when, arguments, result), every event and every alarm transition. The
store commits at least once a second, so a crash loses at most the last second.
``twin serve`` and ``twin up`` record into ``--record DIR`` (default
``runs/<UTC time>-<satellite>-live``, ``-lab`` for ``twin serve --boards``); ``--no-record``
turns it off. A recording starts with the events the twin raised before it listened (the
alarms judged on the first frame while the twin was built: :func:`record_past_events`).

What kind of run it is (``RunMeta.origin``): ``"measured"`` for a twin against real boards
(``twin serve --boards LAB.toml``): its values are the boards' measurements, which the plant
did not make, so the run can be replayed and forked from a recorded state but not
re-simulated; ``"live"`` for the model alone (``twin serve`` without boards, ``twin up`` with
the firmware stubs): the plant is the truth and every input to it is a logged command, so a
re-simulation reproduces its trajectory (``docs/review.md``). Each command is recorded with the
side of the frame it acted on (``result["phase"]``: ``"after_frame"`` when the frame of its
simulated instant was already recorded, ``"before"`` otherwise), so that a re-simulation
applies it where it acted.

:func:`record_event`, :func:`record_past_events` and :func:`judge_alarms` are what batch runs
(``twin simulate``, scenario runs, re-simulations and forks) use to record events and alarm
transitions exactly as the live recorder does, and to judge the alarms on each frame they check
as a live twin's refresh does.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from twin.commands import CommandRecord, Event
from twin.store import RunStore, run_meta

if TYPE_CHECKING:
    from twin.runtime import Twin

LIVE, MEASURED = "live", "measured"


def record_event(store: RunStore, ev: Event) -> None:
    """One twin event into ``store``; an alarm transition also into its alarms table."""
    store.record_event(ev.sim_s, max(1, min(1000, int(ev.severity))), "twin", ev.kind,
                       ev.message, ev.data, wall_time=ev.wall_s)
    if ev.kind == "alarm" and "previous" in ev.data:
        store.record_alarm(ev.sim_s, ev.data["path"], ev.data["state"], ev.data["previous"],
                           ev.data.get("value"), ev.message, wall_time=ev.wall_s)


def record_past_events(store: RunStore, twin: Twin) -> None:
    """The events ``twin`` raised before a recorder listened (e.g. alarms judged on its first
    frame while it was built) into ``store``, so that a recording starts with them."""
    for ev in list(twin.events):
        record_event(store, ev)


def judge_alarms(twin: Twin, frame: np.ndarray) -> None:
    """A batch run's frame (sampled at the plant's current time) into the twin's mirror, and
    the alarms judged on it, as :meth:`~twin.runtime.Twin.refresh` does for a live twin; the
    transitions become ``alarm`` events (record them with :func:`record_event`)."""
    twin.mirror.update_all(frame, twin.plant.t_s)
    twin.alarms.evaluate()


class LiveRecorder:
    """Records a live twin; ``measured``: its values come from real boards (origin
    ``"measured"``, not re-simulatable), else the model alone (origin ``"live"``)."""

    def __init__(self, twin: Twin, directory: str | Path, *, measured: bool = False) -> None:
        cfg = twin.config
        meta = run_meta(cfg, twin.plant.seed, cfg.simulation.step_s,
                        origin=MEASURED if measured else LIVE)
        self.store = RunStore.create(directory, twin.catalogue, meta)
        self.directory = Path(directory)
        self._last_t = float("-inf")
        twin.recording = self.store  # HistoryRead serves older values from it
        record_past_events(self.store, twin)
        twin.on_frame(self.frame)
        twin.on_command(self.command)
        twin.on_event(self.event)
        self.frame(twin)  # what the twin shows now, before the first step

    def frame(self, twin: Twin) -> None:
        t = twin.plant.t_s
        if t > self._last_t:  # a paused twin refreshes without new simulated time
            self.store.append(t, twin.mirror.values)
            self._last_t = t

    def command(self, rec: CommandRecord) -> None:
        phase = "after_frame" if rec.sim_s <= self._last_t else "before"
        self.store.record_command(rec.sim_s, rec.user, rec.command, rec.args, rec.status,
                                  {"message": rec.message, "role": rec.role, "phase": phase},
                                  wall_time=rec.wall_s)

    def event(self, ev: Event) -> None:
        record_event(self.store, ev)

    def close(self) -> None:
        self.store.close()


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--record", default=None, metavar="DIR", help="record the live twin into "
                   "this run directory (default runs/<time>-<satellite>-live)")
    p.add_argument("--no-record", action="store_true", help="do not record")


def start_recording(twin: Twin, args: argparse.Namespace) -> LiveRecorder | None:
    """The recorder ``twin serve``/``twin up`` asked for (None with --no-record); a twin of
    ``twin serve --boards LAB.toml`` (``args.boards``) records a measured run."""
    if getattr(args, "no_record", False):
        return None
    measured = bool(getattr(args, "boards", None)) and getattr(args, "command", None) != "up"
    directory = getattr(args, "record", None)
    if directory is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kind = "lab" if measured else "live"
        directory = Path("runs") / f"{stamp}-{twin.config.satellite.name}-{kind}"
    return LiveRecorder(twin, directory, measured=measured)


class LiveTelemetry:
    """Where a live twin's telemetry goes (``twin serve``/``twin up``): the run store unless
    ``--no-record``, and InfluxDB when ``--influx`` or the environment configures it, tagged
    with the recording's run id. :meth:`close` flushes both and says where the run went."""

    def __init__(self, twin: Twin, args: argparse.Namespace) -> None:
        from twin.influx import sink_for

        self.recorder = start_recording(twin, args)
        meta = self.recorder.store.meta if self.recorder is not None else None
        self.sink = sink_for(twin.config, twin.catalogue, getattr(args, "influx", None),
                             run=meta)
        if self.sink is not None:
            self.sink.attach(twin)

    def close(self) -> str:
        """Flush and close; the line to print about the recording ("" without one)."""
        if self.sink is not None:
            self.sink.close()
        if self.recorder is None:
            return ""
        self.recorder.close()
        return f"recorded to {self.recorder.directory}"

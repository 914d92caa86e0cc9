"""Live recording: a running twin into an embedded run store, by default.

:class:`LiveRecorder` listens to a :class:`~twin.runtime.Twin` and records every mirror frame it
publishes (one tick per new simulated time: what the twin showed, boards' values included),
every command (who, when, arguments, result), every event and every alarm transition. The
store commits at least once a second, so a crash loses at most the last second.
``twin serve`` and ``twin up`` record into ``--record DIR`` (default
``runs/<UTC time>-<satellite>-live``); ``--no-record`` turns it off.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from twin.commands import CommandRecord, Event
from twin.store import RunStore, run_meta

if TYPE_CHECKING:
    from twin.runtime import Twin


class LiveRecorder:
    def __init__(self, twin: Twin, directory: str | Path) -> None:
        cfg = twin.config
        meta = run_meta(cfg, twin.plant.seed, cfg.simulation.step_s, origin="live")
        self.store = RunStore.create(directory, twin.catalogue, meta)
        self.directory = Path(directory)
        self._last_t = float("-inf")
        twin.recording = self.store  # HistoryRead serves older values from it
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
        self.store.record_command(rec.sim_s, rec.user, rec.command, rec.args, rec.status,
                                  rec.message, wall_time=rec.wall_s)

    def event(self, ev: Event) -> None:
        self.store.record_event(ev.sim_s, max(1, min(1000, int(ev.severity))), "twin", ev.kind,
                                ev.message, ev.data, wall_time=ev.wall_s)
        if ev.kind == "alarm" and "previous" in ev.data:
            self.store.record_alarm(ev.sim_s, ev.data["path"], ev.data["state"],
                                    ev.data["previous"], ev.data.get("value"), ev.message,
                                    wall_time=ev.wall_s)

    def close(self) -> None:
        self.store.close()


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--record", default=None, metavar="DIR", help="record the live twin into "
                   "this run directory (default runs/<time>-<satellite>-live)")
    p.add_argument("--no-record", action="store_true", help="do not record")


def start_recording(twin: Twin, args: argparse.Namespace) -> LiveRecorder | None:
    """The recorder ``twin serve``/``twin up`` asked for (None with --no-record)."""
    if getattr(args, "no_record", False):
        return None
    directory = getattr(args, "record", None)
    if directory is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        directory = Path("runs") / f"{stamp}-{twin.config.satellite.name}-live"
    return LiveRecorder(twin, directory)


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

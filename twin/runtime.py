"""The running twin: plant, clock, mirror, command path, events and checkpoints in one place.

:class:`Twin` is what the OPC UA server, the console, scenarios and bench tests drive. Its
:meth:`Twin.tick` runs the plant steps the clock says are due and refreshes the mirror;
:meth:`Twin.run` does that forever on an asyncio loop at the publish rate. Adapters (OPC UA, the
board pollers, the recorder) subscribe with :meth:`Twin.on_frame` and :meth:`Twin.on_event` and
command through :attr:`Twin.commands` only.

The mirror holds, per catalogue channel, the value the twin shows, its quality as an OPC UA
status code and its source timestamp in simulated seconds. Without boards every value is the
plant's own and Good; the hardware-in-loop sync (:class:`hil.sync.HilSync`) overwrites measured
channels with the boards' values and marks the rest as estimated (Uncertain).

A twin that will run with sensor boards is built with them, ``Twin(config, boards=...)`` (board
files, e.g. :func:`twin.embedded.stub_boards` or a lab file's boards): its catalogue then has
the boards' ``hil.*`` link and residual channels from the start, so that the OPC UA address
space, the recorder and InfluxDB see them (:meth:`twin.catalogue.Catalogue.with_boards`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twin.alarms import AlarmBook
from twin.catalogue import Catalogue, build_catalogue
from twin.checkpoints import load_checkpoint, save_checkpoint
from twin.clock import Clock
from twin.commands import CommandPath, CommandRecord, Event
from twin.errors import CommandError
from twin.model.plant import Plant

# OPC UA status codes (Part 4, 7.39; Part 8 for the data-access sub-codes).
GOOD = 0x00000000
UNCERTAIN_LAST_USABLE = 0x40900000  # stale: the board stopped answering recently
UNCERTAIN_SUBSTITUTE = 0x40910000  # estimated by the model where no board measures
BAD_NO_COMMUNICATION = 0x80310000  # board offline
BAD_SENSOR_FAILURE = 0x808B0000  # reading out of the sensor's range
BAD_WAITING_FOR_INITIAL_DATA = 0x80320000

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class Mirror:
    """Current value, status and source time of every channel."""

    def __init__(self, catalogue: Catalogue) -> None:
        n = len(catalogue)
        self.catalogue = catalogue
        self.values = np.full(n, np.nan)
        self.status = np.full(n, BAD_WAITING_FOR_INITIAL_DATA, dtype=np.uint32)
        self.source_s = np.zeros(n)
        self.version = 0

    def update_all(self, frame: np.ndarray, sim_s: float, status: int = GOOD) -> None:
        self.values = frame
        self.status = np.full(frame.shape[0], status, dtype=np.uint32)
        self.source_s = np.full(frame.shape[0], sim_s)
        self.version += 1

    def value(self, path: str) -> float:
        return float(self.values[self.catalogue[path].index])


class Twin:
    def __init__(self, config: Any, seed: int | None = None, state_dir: str | Path | None = None,
                 mode: str = "paused", speed: float = 1.0, publish_hz: float = 10.0, *,
                 boards: Iterable[Any] | Mapping[str, Any] | None = None,
                 catalogue: Catalogue | None = None) -> None:
        """``boards``: the sensor boards the twin will run with (board files, or anything with
        ``board_channels()``); their ``hil.*`` channels join the catalogue. ``catalogue``: one
        already built from ``config`` to use instead (e.g. a replay's, with the recorded
        ``hil.*`` channels: ``build_catalogue(config).extended(...)``)."""
        self.config = config
        self.plant = Plant(config, seed=seed)
        self.boards: tuple[Any, ...] = tuple(
            boards.values() if isinstance(boards, Mapping) else boards or ())
        self.catalogue = catalogue if catalogue is not None else build_catalogue(
            config, boards=self.boards)
        self._boards_from = self.catalogue.plant_count  # hil.* channels from here on
        self.clock = Clock(config.simulation.step_s, self.plant.t_s, mode=mode, speed=speed)
        self.mirror = Mirror(self.catalogue)
        self.publish_hz = publish_hz
        self.state_dir = Path(state_dir) if state_dir else None
        self.events: deque[Event] = deque(maxlen=10_000)
        self.recording: Any = None  # the run store a LiveRecorder writes this twin into
        self.board_faults: Any = None  # what applies sensor and board faults (stub boards)
        self._frame_listeners: list[Callable[[Twin], None]] = []
        self._mirror_listeners: list[Callable[[Twin], None]] = []
        self._event_listeners: list[Callable[[Event], None]] = []
        self._command_listeners: list[Callable[[CommandRecord], None]] = []
        self.commands = CommandPath(self, record=self._command_recorded)
        self.alarms = AlarmBook(self)
        from twin.scenario.live import LiveScenarios  # the scenario package builds on Twin

        self.scenarios = LiveScenarios(self)
        self.refresh()

    # --- listeners -------------------------------------------------------------------------
    def on_frame(self, fn: Callable[[Twin], None], first: bool = False) -> None:
        """``fn(twin)`` after each mirror refresh. ``first``: before the listeners already
        there; the board sync uses it so that publishers and recorders see measured values."""
        if first:
            self._frame_listeners.insert(0, fn)
        else:
            self._frame_listeners.append(fn)

    def on_event(self, fn: Callable[[Event], None]) -> None:
        self._event_listeners.append(fn)

    def off_event(self, fn: Callable[[Event], None]) -> None:
        if fn in self._event_listeners:
            self._event_listeners.remove(fn)

    def on_command(self, fn: Callable[[CommandRecord], None]) -> None:
        """``fn(record)`` after every command call, refused ones included."""
        self._command_listeners.append(fn)

    def event(self, kind: str, severity: int, message: str, **data: Any) -> Event:
        ev = Event(self.plant.t_s, time.time(), kind, severity, message, data)
        self.events.append(ev)
        for fn in self._event_listeners:
            fn(ev)
        return ev

    def _command_recorded(self, rec: CommandRecord) -> None:
        for fn in self._command_listeners:
            fn(rec)
        cmd = self.commands.commands.get(rec.command)
        if cmd is not None and cmd.query and rec.status == "Good":
            return  # a read that worked changed nothing: recorded, no event
        sev = 200 if rec.status == "Good" else 500
        self.event("command", sev, f"{rec.user} ({rec.role}): {rec.command} {rec.args} → "
                   f"{rec.status}", command=rec.command, user=rec.user, status=rec.status)

    # --- time ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Sample the plant into the mirror, tell the listeners (boards may overwrite measured
        channels), then judge the alarms on what the mirror finally shows. The boards' own
        ``hil.*`` channels wait for their sync (Bad, waiting for initial data)."""
        self.mirror.update_all(self.catalogue.sample(self.plant, self.clock,
                                                     self.scenarios.values()), self.plant.t_s)
        self.mirror.status[self._boards_from:] = BAD_WAITING_FOR_INITIAL_DATA
        self.publish()

    def refresh_scenario(self) -> None:
        """Show a changed live-scenario state (loaded, started, ended) at once, between
        frames too (the clock may be paused)."""
        values = self.mirror.values.copy()  # a frame listener may keep the last frame
        idx = [self.catalogue[p].index for p in ("sim.scenario.state", "sim.scenario.elapsed_s")]
        values[idx] = self.scenarios.values()
        self.mirror.values = values
        self.mirror.version += 1
        self.mirror_changed()

    def publish(self) -> None:
        """Tell the frame listeners the mirror changed, then judge the alarms on it."""
        for fn in self._frame_listeners:
            fn(self)
        self.alarms.evaluate()

    def on_mirror_change(self, fn: Callable[[Twin], None]) -> None:
        """``fn(twin)`` when the mirror changed between frames: the sensor boards' values
        re-applied while the plant did not step (paused, or between slow steps). Frame
        listeners that show the mirror (the OPC UA publisher) register here too; those that
        record per simulated instant or sample the model do not."""
        self._mirror_listeners.append(fn)

    def mirror_changed(self) -> None:
        """Tell the mirror listeners, then judge the alarms on the mirror."""
        for fn in self._mirror_listeners:
            fn(self)
        self.alarms.evaluate()

    def tick(self, wall_s: float) -> int:
        """Run the steps due at ``wall_s``; refresh the mirror if any ran. A running live
        scenario runs its timeline's actions between the steps (:mod:`twin.scenario.live`)
        and checks its triggers on the refreshed mirror."""
        n = self.clock.due(wall_s)
        if n:
            if self.scenarios.running:
                n = self.scenarios.run_steps(n)
            else:
                self.plant.run(n, self.clock.step_s)
            self.clock.advanced(n, self.plant.t_s)
            self.refresh()
            self.scenarios.after_tick()
        return n

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Step and publish until ``stop`` is set; never blocks the loop for long."""
        period = 1.0 / self.publish_hz
        loop = asyncio.get_running_loop()
        while stop is None or not stop.is_set():
            start = loop.time()
            self.tick(time.monotonic())
            await asyncio.sleep(max(0.0, period - (loop.time() - start)))

    def check_board_fault(self, kind: str, target: str) -> str:
        """Before a sensor or board fault (``plant = False``) is injected: refuse one that
        cannot act here (CommandError); a note for the event if it will only be recorded."""
        if self.board_faults is not None:
            self.board_faults.check_fault(kind, target)
            return ""
        if self.boards:
            raise CommandError(f"fault {kind}: the sensor boards of this twin are real hardware "
                               "(twin serve --boards); sensor and board faults act on the stub "
                               "boards of twin up", "BadInvalidState")
        return " (no sensor boards in this twin: recorded only)"

    # --- checkpoints -----------------------------------------------------------------------
    def _checkpoint_path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise CommandError(f"checkpoint name {name!r}: expected 1-64 letters, digits, . _ -")
        if self.state_dir is None:
            raise CommandError("checkpoints need a state directory", "BadInvalidState")
        return self.state_dir / "checkpoints" / f"{name}.ckpt"

    def save_checkpoint(self, name: str) -> Path:
        path = self._checkpoint_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.plant, path)
        return path

    def restore_checkpoint(self, name: str) -> None:
        path = self._checkpoint_path(name)
        if not path.exists():
            raise CommandError(f"no checkpoint named {name!r}", "BadInvalidArgument")
        self.plant.restore(load_checkpoint(path))
        self.clock.sim_s = self.plant.t_s
        self.clock.pause()
        self.refresh()

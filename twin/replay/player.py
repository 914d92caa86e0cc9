"""Playing a recording through a twin's mirror, so OPC UA clients see it as live.

:class:`Replayer` is the play head: a position in simulated seconds that moves with a wall clock
(injected: ``time.monotonic`` in the server, a fake in tests) × speed while playing, jumps on
:meth:`~Replayer.seek` and moves tick by tick on :meth:`~Replayer.step`. Values are
sample-and-hold: at any position the frame shown is the latest recorded tick at or before it
(:meth:`twin.store.RunReader.seek`, which decodes one block of every channel and caches it).

:class:`ReplayTwin` is a :class:`~twin.runtime.Twin` whose :meth:`~ReplayTwin.tick` moves the
play head instead of stepping the plant: the plant is never stepped while replaying (its clock
only follows the play head, so events and history carry the recording's times). The time
commands of the one command path (Pause, Resume, SetSpeed, Step, RunUntil) drive the play head;
commands that would change the satellite are refused with a hint to fork the run instead.
The clock channels show the play head's own state — ``sim.mode`` realtime while playing and
paused otherwise, ``sim.speed_x`` the replay speed, ``sim.behind_s`` 0 (a replay never falls
behind: it shows the latest tick at or before the play head), ``sim.time_s`` the shown tick's
time — not the recorded run's clock (a batch run's "fast", speed 0), which ``twin review``
still has. Only a replay has ``Seek`` (jump the play head), ``Fork`` (a what-if branch from the
play head, re-simulated in a worker thread; a ``fork`` event reports the new run) and the channels
``sim.replay.start_s``/``end_s`` (the recording's span), so a client knows a replay by them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from twin.catalogue import CLOCK_CHANNELS, Channel, build_catalogue
from twin.clock import MAX_SPEED, MIN_SPEED, MODES
from twin.commands import Arg, Command, CommandPath, CommandRecord
from twin.errors import CommandError, TwinError
from twin.runtime import GOOD, Twin
from twin.store import RunReader

log = logging.getLogger(__name__)
SOURCE = "replay"
BAD_NO_DATA = 0x809B0000  # OPC UA BadNoData: a channel this recording does not have
# CLOCK_CHANNELS are shown as the play head's clock (playing: "realtime" at the replay speed;
# paused), not as recorded; sim.time_s is the shown tick's time, i.e. the play head's
REFUSED = ("SetRackEnabled", "SetRackPowerCap", "SetPumpSpeed", "SetRadiatorDeploy",
           "SetHeaterMode", "SetLoadShedLevel", "InjectFault", "ClearFault", "SaveCheckpoint",
           "RestoreCheckpoint", "LoadScenario", "StartScenario", "StopScenario")


class Replayer:
    """A play head over one recorded run: play, pause, speed, seek, step; sample-and-hold."""

    def __init__(self, store: RunReader, speed: float = 1.0, at_s: float | None = None,
                 playing: bool = False, wall: Callable[[], float] = time.monotonic) -> None:
        span = store.time_range()
        if span is None:
            raise TwinError(f"{store.directory}: the run holds no ticks to replay")
        self.store = store
        self.start_s, self.end_s = span
        self.wall = wall
        first = store.channels()[0].path
        self.times = store.read_channel(first)[0]  # every tick time, for step and hold
        self.speed = 1.0
        self.set_speed(speed)
        self.playing = False
        self.stop_at: float | None = None
        self.position = self.start_s
        self.tick_s = math.nan
        self.frame = np.empty(0)
        self.version = 0
        self.seek(self.start_s if at_s is None else at_s)
        if playing:
            self.play()

    # --- controls --------------------------------------------------------------------------
    def play(self) -> None:
        if self.position >= self.end_s:
            self.seek(self.start_s)
        self._anchor()
        self.playing = True

    def pause(self) -> None:
        self.update()
        self.playing = False
        self.stop_at = None

    def set_speed(self, speed: float) -> None:
        if not (isinstance(speed, int | float) and MIN_SPEED <= speed <= MAX_SPEED):
            raise CommandError(f"replay speed {speed!r}: expected {MIN_SPEED:g} to "
                               f"{MAX_SPEED:g} times real time", "BadOutOfRange")
        if getattr(self, "playing", False):
            self.update()
            self._anchor()
        self.speed = float(speed)

    def seek(self, t_s: float) -> None:
        """Jump to ``t_s`` (clamped to the run); shows the latest tick at or before it."""
        if not (isinstance(t_s, int | float) and math.isfinite(t_s)):
            raise CommandError(f"seek {t_s!r}: expected a time in seconds", "BadInvalidArgument")
        self.position = min(max(float(t_s), self.start_s), self.end_s)
        self._anchor()
        self._show()

    def step(self, n: int = 1) -> None:
        """Pause and move ``n`` recorded ticks forward (negative: back)."""
        self.pause()
        k = int(np.searchsorted(self.times, self.position, side="right")) - 1
        k = min(max(k + int(n), 0), self.times.size - 1)
        self.seek(float(self.times[k]))

    def run_until(self, t_s: float) -> None:
        """Play at the current speed up to ``t_s``, then pause (an earlier ``t_s`` seeks)."""
        if t_s <= self.position:
            self.pause()
            self.seek(t_s)
            return
        self.stop_at = min(float(t_s), self.end_s)
        if not self.playing:
            self.play()

    # --- the loop --------------------------------------------------------------------------
    def update(self) -> bool:
        """Move the play head to the wall clock's now; True if the frame shown changed."""
        if not self.playing:
            return False
        now = self.wall()
        pos = self._pos0 + (now - self._wall0) * self.speed
        end = self.end_s if self.stop_at is None else self.stop_at
        if pos >= end:
            pos = end
            self.playing = False
            self.stop_at = None
        self.position = pos
        return self._show()

    def status(self) -> dict[str, Any]:
        return {"position_s": self.position, "tick_s": self.tick_s, "playing": self.playing,
                "speed": self.speed, "start_s": self.start_s, "end_s": self.end_s}

    def _anchor(self) -> None:
        self._wall0 = self.wall()
        self._pos0 = self.position

    def _show(self) -> bool:
        k = int(np.searchsorted(self.times, self.position, side="right")) - 1
        t = float(self.times[max(k, 0)])
        if t == self.tick_s:
            return False
        self.tick_s, self.frame = self.store.seek(t)
        self.version += 1
        return True


def replay_channels(r: Replayer) -> list[Channel]:
    """The channels only a replay has: the recording's span (a client knows a replay by them
    and by its ``Seek`` method)."""
    lo, hi = r.start_s, r.end_s
    return [Channel("sim.replay.start_s", "s", "float", lo, hi,
                    "first recorded tick (simulated seconds)", source="replay", index=0),
            Channel("sim.replay.end_s", "s", "float", lo, hi,
                    "last recorded tick (simulated seconds)", source="replay", index=0)]


SEEK = Command("Seek", "operator", "Move the play head to a simulated time (replay only).",
               (Arg("t_s", "float", "simulated time since epoch", "s", 0.0, 1e10),))
FORK = Command("Fork", "operator", "Fork a what-if branch of the recording at the play head: "
               "re-simulated with other actions into a new run (replay of a simulated run only).",
               (Arg("out", "str", "the branch's run directory (default: beside the run, "
                    "named after the fork time)", optional=True),
                Arg("actions", "str", "actions, one per line or separated by ';': "
                    "'[@T] Command key=value ...', e.g. 'SetLoadShedLevel level=2'",
                    optional=True)), hazardous=False)


class ReplayCommands(CommandPath):
    """The one command path while replaying: time commands drive the play head; ``Seek``
    jumps it (only a replay has it)."""

    twin: ReplayTwin

    def __init__(self, twin: Twin, record: Callable[[CommandRecord], None] | None = None
                 ) -> None:
        super().__init__(twin, record)
        self.commands[SEEK.name] = SEEK
        self.commands[FORK.name] = FORK
        self.forks: list[threading.Thread] = []

    def _Fork(self, out: str = "", actions: str = "") -> str:
        """Start the branch in a worker thread (a fork re-simulates from the run's start, which
        can take a while); a ``fork`` event reports where it went, or why it failed."""
        from twin.replay.resim import parse_action

        run_dir = Path(self.twin.replayer.store.directory)
        at = self.twin.replayer.tick_s
        try:
            acts = [parse_action(a) for a in re.split(r"[;\n]", actions) if a.strip()]
        except TwinError as exc:
            raise CommandError(f"actions: {exc}", "BadInvalidArgument") from exc
        known = [c for c in self.commands if c not in (SEEK.name, FORK.name)]
        unknown = sorted({a.command for a in acts} - set(known))
        if unknown:
            raise CommandError(f"actions: unknown command {unknown[0]!r}; known: "
                               f"{', '.join(known)}", "BadInvalidArgument")
        dest = Path(out) if out else run_dir.with_name(f"{run_dir.name}-fork-{at:g}s")
        if dest.exists():
            raise CommandError(f"out {str(dest)!r}: already exists; name a new directory",
                               "BadInvalidArgument")
        twin = self.twin
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        def report(kind: str, severity: int, message: str, **data: Any) -> None:
            if loop is None:
                twin.event(kind, severity, message, **data)
            else:
                loop.call_soon_threadsafe(partial(twin.event, kind, severity, message, **data))

        def work() -> None:
            from twin.replay.resim import fork

            try:
                res = fork(run_dir, at, dest, acts)
            except Exception as exc:  # reported to the operator, never raised into the server
                report("fork", 500, f"fork at {at:g} s failed: {exc}", out=str(dest))
                return
            verdict = ""
            if res.scenario is not None:
                verdict = " — scenario " + ("passed" if res.scenario.passed else "failed")
            report("fork", 200, f"forked at {res.fork_t_s:g} s into {res.out_dir} "
                   f"({res.frames} frames){verdict}", out=str(res.out_dir), at_s=res.fork_t_s)

        thread = threading.Thread(target=work, name=f"fork-{at:g}s", daemon=True)
        self.forks.append(thread)
        thread.start()
        if loop is None:
            thread.join()
        return f"forking at {at:g} s into {dest}; a fork event follows when it is done"

    def _Seek(self, t_s: float) -> None:
        self.twin.replayer.seek(t_s)
        self.twin.show()

    def _Pause(self) -> None:
        self.twin.replayer.pause()
        self.twin.show()

    def _Resume(self) -> None:
        self.twin.replayer.play()
        self.twin.show()

    def _SetSpeed(self, speed: float) -> None:
        self.twin.replayer.set_speed(speed)
        self.twin.show()

    def _Step(self, n: int) -> None:
        self.twin.replayer.step(n)
        self.twin.show()

    def _RunUntil(self, t_s: float) -> None:
        self.twin.replayer.run_until(t_s)
        self.twin.show()


def _refuse(name: str) -> Callable[..., None]:
    def handler(self: ReplayCommands, **_: Any) -> None:
        raise CommandError(f"replaying a recording: {name} cannot change it; fork a what-if "
                           "branch instead (twin replay RUN --fork T --do ...)",
                           "BadInvalidState")
    return handler


for _name in REFUSED:
    setattr(ReplayCommands, "_" + _name, _refuse(_name))


class ReplayTwin(Twin):
    """A twin whose mirror shows a recording; the plant is never stepped."""

    def __init__(self, config: Any, store: RunReader, speed: float = 1.0,
                 at_s: float | None = None, playing: bool = False, publish_hz: float = 10.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.replayer = Replayer(store, speed, at_s, playing=False, wall=wall)
        base = build_catalogue(config)
        recorded = store.channels()
        # the run's own extra channels (a live run's hil.* boards, or channels an older version
        # recorded that this one no longer has), then the play head's span
        extra = [c for c in recorded if c.path not in base.by_path]
        catalogue = base.extended([*extra, *replay_channels(self.replayer)])
        self.n_recorded = len(recorded)
        # recorded column of each shown channel: a recording made by an older version may lack
        # channels added since (NaN, BadNoData) or hold them in another order
        at = {c.path: i for i, c in enumerate(recorded)}
        shown = catalogue.channels[:len(catalogue) - 2]
        self._columns = np.array([at.get(c.path, -1) for c in shown], dtype=np.int64)
        self._absent = self._columns < 0
        self._same = bool(len(shown) == len(recorded)
                          and np.array_equal(self._columns, np.arange(len(recorded))))
        if self._absent.any():
            missing = [c.path for c, gone in zip(shown, self._absent, strict=True) if gone]
            log.warning("%s: recorded without %d channels of this version (%s%s): shown as "
                        "BadNoData", store.directory, len(missing), ", ".join(missing[:4]),
                        "…" if len(missing) > 4 else "")
        self._clock_idx = [catalogue[p].index for p in CLOCK_CHANNELS if p in catalogue.by_path]
        super().__init__(config, seed=store.meta.seed, mode="paused", publish_hz=publish_hz,
                         catalogue=catalogue)
        self.source = SOURCE
        self.commands = ReplayCommands(self, record=self._command_recorded)
        self.show()
        if playing:
            self.replayer.play()

    def refresh(self) -> None:
        self.show()

    def show(self) -> None:
        """Put the play head's frame into the mirror and tell the listeners."""
        r = self.replayer
        self.plant.state.t_us = round(r.tick_s * 1e6)
        self.clock.sim_s = r.tick_s
        self.clock.speed = r.speed
        self.clock.mode = "realtime" if r.playing else "paused"
        row = r.frame if self._same else np.where(self._absent, np.nan,
                                                  r.frame[np.maximum(self._columns, 0)])
        frame = np.concatenate([row, (r.start_s, r.end_s)])
        if len(self._clock_idx) == len(CLOCK_CHANNELS):  # the play head's clock, not the run's
            frame[self._clock_idx] = (MODES.index(self.clock.mode), r.speed, 0.0)
        self.mirror.update_all(frame, r.tick_s, GOOD)
        if not self._same:
            self.mirror.status[:len(row)][self._absent] = BAD_NO_DATA
        self.mirror.source = SOURCE  # type: ignore[attr-defined]
        self.publish()  # listeners, and the limit alarms judge the replayed values too

    def tick(self, wall_s: float) -> int:
        """Move the play head (the wall clock is the replayer's); 1 if the frame changed."""
        was = self.replayer.playing
        if self.replayer.update() or was != self.replayer.playing:
            self.show()
            return 1
        return 0

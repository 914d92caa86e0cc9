"""The simulation clock: simulated time advances only through it, one plant step at a time.

Modes: ``paused``; ``realtime`` (simulated time follows the wall clock × speed, 0.1× to
1000×); ``fast`` (as fast as possible). On top of any mode, ``step(n)`` queues n single steps and
``run_until(t)`` runs (at the current mode's pace, or as fast as possible when paused) up to a
simulated time, then pauses. The clock never sleeps and never reads the wall clock itself: the
caller passes ``wall_s`` (``time.monotonic()`` in the twin, a fake in tests) and gets back how many
steps are due now; running those steps is the caller's job. So the trajectory depends only on the
number of steps, never on wall time, and a run stays reproducible however the host keeps up.

Falling behind is reported, not hidden: when more steps are due than ``max_batch``, the extra
wall time is counted in ``behind_s`` and, past ``resync_s``, dropped (the simulated time then
runs slower than requested, and ``lag_events`` says how often).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.errors import CommandError

MODES = ("paused", "realtime", "fast")
MIN_SPEED, MAX_SPEED = 0.1, 1000.0


@dataclass(slots=True)
class ClockStatus:
    mode: str
    speed: float
    sim_s: float
    step_s: float
    pending_steps: int
    run_until_s: float | None
    behind_s: float
    lag_events: int


class Clock:
    def __init__(self, step_s: float, sim_s: float = 0.0, mode: str = "paused",
                 speed: float = 1.0, max_batch: int = 1000, resync_s: float = 1.0) -> None:
        if not step_s > 0:
            raise CommandError(f"clock: step_s = {step_s!r}: expected > 0", "BadOutOfRange")
        self.step_s = step_s
        self.sim_s = sim_s
        self.max_batch = max_batch
        self.resync_s = resync_s
        self.speed = 1.0
        self.set_speed(speed)
        self.mode = "paused"
        self._set_mode(mode)
        self.pending_steps = 0
        self.run_until_s: float | None = None
        self.behind_s = 0.0
        self.lag_events = 0
        self._wall_anchor: float | None = None
        self._sim_anchor = sim_s

    # --- commands ------------------------------------------------------------------------
    def pause(self) -> None:
        self._set_mode("paused")

    def resume(self, mode: str = "realtime") -> None:
        self._set_mode(mode)

    def fast(self) -> None:
        self._set_mode("fast")

    def set_speed(self, speed: float) -> None:
        if not (isinstance(speed, int | float) and MIN_SPEED <= speed <= MAX_SPEED):
            raise CommandError(f"speed {speed!r}: expected {MIN_SPEED:g} to {MAX_SPEED:g} "
                               "times real time", "BadOutOfRange")
        self.speed = float(speed)
        self._wall_anchor = None  # re-anchor so the new speed applies from now

    def step(self, n: int = 1) -> None:
        if not (isinstance(n, int) and 1 <= n <= 10_000_000):
            raise CommandError(f"step {n!r}: expected a whole number of steps, 1 to 10,000,000",
                               "BadOutOfRange")
        self.pending_steps += n

    def run_until(self, t_s: float) -> None:
        if not (isinstance(t_s, int | float) and math.isfinite(t_s)):
            raise CommandError(f"run until {t_s!r}: expected a simulated time in s",
                               "BadInvalidArgument")
        if t_s <= self.sim_s:
            raise CommandError(f"run until {t_s:g} s: simulated time is already {self.sim_s:g} s",
                               "BadInvalidState")
        self.run_until_s = float(t_s)
        if self.mode == "paused":
            self._set_mode("fast")

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise CommandError(f"clock mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self._wall_anchor = None

    # --- the caller's loop ---------------------------------------------------------------
    def due(self, wall_s: float) -> int:
        """Steps to run now (at most ``max_batch``); call :meth:`advanced` after running them."""
        n = self.pending_steps
        if self.mode == "fast":
            n = max(n, self.max_batch)
        elif self.mode == "realtime":
            if self._wall_anchor is None:
                self._wall_anchor, self._sim_anchor = wall_s, self.sim_s
            target = self._sim_anchor + (wall_s - self._wall_anchor) * self.speed
            want = math.floor((target - self.sim_s) / self.step_s + 1e-9)
            if want > self.max_batch:
                behind = (want - self.max_batch) * self.step_s / self.speed
                self.behind_s = behind
                if behind > self.resync_s:  # cannot catch up: re-anchor, report, move on
                    self.lag_events += 1
                    self._wall_anchor = wall_s
                    self._sim_anchor = self.sim_s + self.max_batch * self.step_s
            else:
                self.behind_s = 0.0
            n = max(n, want)
        if self.run_until_s is not None:
            left = math.ceil((self.run_until_s - self.sim_s) / self.step_s - 1e-9)
            n = min(max(n, 0), max(left, 0))
        return max(0, min(n, self.max_batch))

    def advanced(self, n: int, sim_s: float | None = None) -> None:
        """Record that ``n`` steps were run (``sim_s``: the plant's exact time after them)."""
        self.sim_s = self.sim_s + n * self.step_s if sim_s is None else sim_s
        self.pending_steps = max(0, self.pending_steps - n)
        if self.run_until_s is not None and self.sim_s >= self.run_until_s - 1e-9:
            self.run_until_s = None
            self.pending_steps = 0
            self._set_mode("paused")

    def next_wakeup_s(self, wall_s: float) -> float | None:
        """Wall time at which the next step falls due (None: nothing scheduled)."""
        if self.pending_steps or self.mode == "fast":
            return wall_s
        if self.mode != "realtime" or self._wall_anchor is None:
            return None
        next_sim = self.sim_s + self.step_s
        return self._wall_anchor + (next_sim - self._sim_anchor) / self.speed

    def status(self) -> ClockStatus:
        return ClockStatus(self.mode, self.speed, self.sim_s, self.step_s, self.pending_steps,
                           self.run_until_s, self.behind_s, self.lag_events)

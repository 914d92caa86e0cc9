"""The mirror from the boards: measured channels from the pollers, the rest estimated.

:class:`HilSync` subscribes to :meth:`twin.runtime.Twin.on_frame`. After every refresh (the plant
sampled into the mirror, all Good), it

* overwrites each channel a board measures with the board's value, its quality and the board's
  sample time (simulated seconds); where several boards report one channel, the best link wins
  (good, then stale, then offline), and among equal links the finest encoding (the smallest
  quantisation, :meth:`hil.boardfile.Board.quantisation`), then the first board given. A bit
  that only says whether an enum is at one label (a switch, such as the power board's heater
  feed) measures nothing and never shows: the mode comes from a board that encodes it whole;
* marks every channel no board measures ``UNCERTAIN_SUBSTITUTE`` (the model's estimate), except
  the twin's own ``sim.*`` channels (simulated time, the clock, the live scenario), which stay
  Good and keep what the twin shows (it may move them between frames);
* computes residuals, measured − model, for channels both measured (Good) and modelled, the
  model taken at the board's sample time (below);
* fills the ``hil.*`` channels of a twin built with its boards (:mod:`twin.catalogue`):
  ``hil.<board>.online`` (Good; Bad waiting for initial data until the board first answers, or
  its first poll has failed and ``offline_after_s`` has passed since its poller started, so
  that start-up raises no alarm),
  the link counters (Good), ``hil.<board>.latency_ms`` (Good once a round trip was timed) and
  ``hil.residual.<path>`` (Good while the board is good and the reading unflagged; else NaN
  with Bad sensor failure or Bad no communication).

Quality per value: board ``good`` → Good, or Bad (sensor failure) when the reading is saturated
or outside the sensor's range; ``stale`` → Uncertain (last usable); ``offline`` → Bad (no
communication), keeping the last value. It runs before the twin's other frame listeners (OPC
UA publisher, recorder), so that they see the synced mirror; :meth:`HilSync.run` re-applies
the boards between frames (a paused twin does not refresh) and has the alarm book judge the
result: every publishing period, at once when a poller's link state moves (an answer after a
failure, a first failure), and at each poller's next deadline (:meth:`BoardPoller.next_change
<hil.poller.BoardPoller.next_change>`: ``last_ok + offline_after_s`` and the like), so that a
lost board turns Bad, and its link alarm rises, within two poll periods.

Model at the sample time: a board's reading is compared with the plant frame in force when the
board sampled (the newest of the last ``history`` frames at or before its sample time), not the
latest frame, which at a high speed factor may be many steps ahead of a board polled once a
second. A board read in several requests may sample again between them, so a reading can be a
sample newer than its time stamp (the status block's): the residual is the reading's distance
from the model's values between that frame and the next one (0 between them; measured − model
when the plant stands still). A sample time outside the frames kept (unknown, or a real board's
own clock) uses the latest frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from hil.boardfile import Flag
from hil.poller import BoardPoller
from hil.stats import CHANNEL_QUANTITIES
from hil.timing import LoopLag
from twin.runtime import (
    BAD_NO_COMMUNICATION,
    BAD_SENSOR_FAILURE,
    BAD_WAITING_FOR_INITIAL_DATA,
    GOOD,
    UNCERTAIN_LAST_USABLE,
    UNCERTAIN_SUBSTITUTE,
)

if TYPE_CHECKING:
    from twin.runtime import Twin

log = logging.getLogger(__name__)
LINK_STATUS = {"good": GOOD, "stale": UNCERTAIN_LAST_USABLE, "offline": BAD_NO_COMMUNICATION}
RANK = {"good": 0, "stale": 1, "offline": 2}
SAMPLE_TIME_SLACK_S = 0.0015  # board sample times are whole milliseconds, rounded down
DEADLINE_MARGIN_S = 1e-4  # re-apply this long after a link deadline: the state has moved


class HilSync:
    def __init__(self, twin: Twin, pollers: Iterable[BoardPoller], *, subscribe: bool = True,
                 history: int = 64) -> None:
        self.twin = twin
        self.pollers = list(pollers)
        self.lag = LoopLag()  # the loop's own stalls do not count against a board (run())
        for p in self.pollers:
            p.lag = self.lag
        cat = twin.catalogue
        self.sources: dict[str, list[tuple[BoardPoller, int]]] = {}
        for p in self.pollers:
            for path in p.paths:
                if path in cat:
                    self.sources.setdefault(path, []).append((p, cat[path].index))
        for boards in self.sources.values():  # the finest encoding first (a stable sort)
            boards.sort(key=lambda b: b[0].board.quantisation(cat.channels[b[1]].path))
        self.measured = np.zeros(len(cat), dtype=bool)
        for path in self.sources:
            self.measured[cat[path].index] = True
        self.own = np.array([c.path.startswith("sim.") for c in cat.channels])  # twin's own
        self.hil = np.array([c.path.startswith("hil.") for c in cat.channels])
        # hil.<board>.<quantity> indices (CHANNEL_QUANTITIES order) and hil.residual.<path>
        self.links: list[tuple[BoardPoller, np.ndarray]] = []
        missing = []
        for p in self.pollers:
            paths = [f"hil.{p.board.name}.{q}" for q in CHANNEL_QUANTITIES]
            if all(x in cat for x in paths):
                self.links.append((p, np.array([cat[x].index for x in paths])))
            else:
                missing.append(p.board.name)
        if missing:
            log.warning("the twin's catalogue has no hil.* channels for board(s) %s: build it "
                        "with Twin(config, boards=...) to have their link statistics and "
                        "residuals as channels", ", ".join(missing))
        self.residual_index = {path: cat[f"hil.residual.{path}"].index for path in self.sources
                               if f"hil.residual.{path}" in cat}
        self.model = np.array(twin.mirror.values, dtype=float)  # the plant at the last frame
        self.history: deque[tuple[float, np.ndarray]] = deque(maxlen=history)
        self.history.append((twin.plant.t_s, self.model))
        self.residuals: dict[str, float] = {}
        self.applied = 0
        self.changed = asyncio.Event()
        if subscribe:
            self._subscribe_first()

    def _subscribe_first(self) -> None:
        """Listen to frames before every other listener (publisher, recorder, InfluxDB), so that
        they all see the synced mirror."""
        self.twin.on_frame(self._on_frame, first=True)

    def _on_frame(self, twin: Twin) -> None:
        self.model = twin.mirror.values.copy()
        t = twin.plant.t_s
        if self.history and t < self.history[-1][0]:  # a checkpoint restored: time went back
            self.history.clear()
        self.history.append((t, self.model))
        self.apply()

    def model_at(self, sample_s: float) -> tuple[np.ndarray, np.ndarray]:
        """The plant frame in force when a board sampled at ``sample_s`` (simulated s) and the
        frame after it (the same when there is none yet); the latest frame when the sample time
        is unknown or outside the frames kept."""
        latest_t, latest = self.history[-1]
        if math.isnan(sample_s) or sample_s > latest_t + self.twin.clock.step_s:
            return latest, latest
        after = latest
        for t, frame in reversed(self.history):
            if t <= sample_s + SAMPLE_TIME_SLACK_S:
                return frame, after
            after = frame
        return latest, latest

    def apply(self, now: float | None = None) -> dict[str, float]:
        """Write the boards into the mirror (over the model values of the last frame)."""
        mirror = self.twin.mirror
        now = time.monotonic() if now is None else now
        values = self.model.copy()
        # the twin's own channels as the twin shows them now: it may have moved them between
        # frames (a scenario loaded or ended while paused: Twin.refresh_scenario)
        values[self.own] = mirror.values[self.own]
        status = np.where(self.measured, BAD_NO_COMMUNICATION,
                          np.where(self.own, GOOD, UNCERTAIN_SUBSTITUTE)).astype(np.uint32)
        status[self.hil] = BAD_WAITING_FOR_INITIAL_DATA
        source_s = np.array(mirror.source_s, dtype=float)
        states = {id(p): p.link_state(now) for p in self.pollers}
        frames: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # model at each sample time
        residuals: dict[str, float] = {}
        for path, boards in self.sources.items():
            if len(boards) > 1:
                boards = sorted(boards, key=lambda b: RANK[states[id(b[0])]])
            p, i = next(((p, i) for p, i in boards if path in p.values), boards[0])
            d = p.values.get(path)
            link = states[id(p)]
            if d is None:
                status[i] = BAD_NO_COMMUNICATION
                values[i] = math.nan
                continue
            values[i] = d.value
            sample_s = p.sample_times.get(path, p.sample_s)
            if not math.isnan(sample_s):
                source_s[i] = sample_s
            if link == "good" and d.flag != Flag.OK:
                status[i] = BAD_SENSOR_FAILURE
            else:
                status[i] = LINK_STATUS[link]
            r = self.residual_index.get(path)
            if link == "good" and d.flag == Flag.OK:
                band = frames.get(sample_s)
                if band is None:
                    band = frames[sample_s] = self.model_at(sample_s)
                lo, hi = sorted((float(band[0][i]), float(band[1][i])))
                if math.isfinite(lo) and math.isfinite(hi):
                    residuals[path] = min(d.value - lo, 0.0) + max(d.value - hi, 0.0)
                    if r is not None:
                        values[r], status[r], source_s[r] = residuals[path], GOOD, source_s[i]
            elif r is not None:
                status[r] = BAD_SENSOR_FAILURE if link == "good" else BAD_NO_COMMUNICATION
        self._apply_links(values, status, source_s, states, now)
        mirror.values, mirror.status, mirror.source_s = values, status, source_s
        mirror.version += 1
        self.residuals = residuals
        self.applied += 1
        self.changed.set()
        return residuals

    def _apply_links(self, values: np.ndarray, status: np.ndarray, source_s: np.ndarray,
                     states: dict[int, str], now: float) -> None:
        """``hil.<board>.*``: online, the counters and the latency, judged at ``now``."""
        t = self.twin.plant.t_s
        for p, idx in self.links:
            st = p.stats
            st.online = states[id(p)] != "offline"
            latency = st.latency_ms()
            waiting = p.waiting(now)
            values[idx] = (math.nan if waiting else float(st.online), st.polls, st.timeouts,
                           st.errors, st.exceptions, st.link_down, latency)
            status[idx] = GOOD
            if waiting:
                status[idx[0]] = BAD_WAITING_FOR_INITIAL_DATA
            if math.isnan(latency):
                status[idx[-1]] = BAD_WAITING_FOR_INITIAL_DATA
            source_s[idx] = t

    def link_stats(self) -> dict[str, dict[str, float | int | bool]]:
        """Board name → its link statistics (the ``hil.<board>.*`` channels and more)."""
        out = {}
        for p in self.pollers:
            p.stats.online = p.link_state() != "offline"
            out[p.board.name] = p.stats.as_dict()
        return out

    def _link_states(self, now: float) -> list[tuple[str, bool]]:
        return [(p.link_state(now), p.waiting(now)) for p in self.pollers]

    def next_change(self, now: float) -> float:
        """The earliest instant after ``now`` at which a poller's link state moves by the
        clock alone (``math.inf``: none), a little after it so that the state has moved."""
        return min((p.next_change(now) for p in self.pollers), default=math.inf) \
            + DEADLINE_MARGIN_S

    async def run(self, stop: asyncio.Event | None = None, period_s: float | None = None
                  ) -> None:
        """Re-apply every ``period_s`` (default: the twin's publishing period) when no frame
        did, at once when a poller's link state moves, and at every poller deadline
        (:meth:`next_change`); each time tell the mirror listeners (the OPC UA publisher) and
        judge the alarms on the result, until ``stop`` is set."""
        stop = stop or asyncio.Event()
        period_s = period_s or 1.0 / self.twin.publish_hz
        wake = asyncio.Event()
        moved = [False]  # a link state moved (not only a deadline)

        def link_moved() -> None:
            moved[0] = True
            wake.set()

        for p in self.pollers:
            p.link_listeners.append(link_moved)
            p.deadline_listeners.append(wake.set)
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        stopping.add_done_callback(lambda _: wake.set())
        watching = asyncio.get_running_loop().create_task(self.lag.run(stop))
        last, seen = time.monotonic(), self.applied  # the last look, and the applies by then
        before = self._link_states(last)
        try:
            while not stop.is_set():
                now = time.monotonic()
                wake.clear()
                moved[0] = False
                woken = False
                due = min(last + period_s, self.next_change(now))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, due - now)):
                        await wake.wait()
                        woken = True
                if stop.is_set():
                    break
                if woken and not moved[0]:
                    continue  # only a deadline moved: plan again, the period still runs
                now = time.monotonic()
                if moved[0] or self.applied == seen or self._link_states(now) != before:
                    self.apply()
                    self.twin.mirror_changed()
                last, seen, before = now, self.applied, self._link_states(now)
        finally:
            stopping.cancel()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            for p in self.pollers:
                with contextlib.suppress(ValueError):
                    p.link_listeners.remove(link_moved)
                with contextlib.suppress(ValueError):
                    p.deadline_listeners.remove(wake.set)

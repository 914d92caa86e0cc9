"""The mirror from the boards: measured channels from the pollers, the rest estimated.

:class:`HilSync` subscribes to :meth:`twin.runtime.Twin.on_frame`. After every refresh (the plant
sampled into the mirror, all Good), it

* overwrites each channel a board measures with the board's value, its quality and the board's
  sample time (simulated seconds); where several boards report one channel, the first board
  given wins while it is good;
* marks every channel no board measures ``UNCERTAIN_SUBSTITUTE`` (the model's estimate), except
  the twin's own ``sim.*`` channels (simulated time), which stay Good;
* computes residuals, measured − model, for channels both measured (Good) and modelled.

Quality per value: board ``good`` → Good, or Bad (sensor failure) when the reading is saturated
or outside the sensor's range; ``stale`` → Uncertain (last usable); ``offline`` → Bad (no
communication), keeping the last value. It runs before the twin's other frame listeners (OPC
UA publisher, recorder), so that they see the synced mirror; :meth:`HilSync.run` re-applies
the boards between frames (a paused twin does not refresh) so that a lost board turns Bad on
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from hil.boardfile import Flag
from hil.poller import BoardPoller
from twin.runtime import (
    BAD_NO_COMMUNICATION,
    BAD_SENSOR_FAILURE,
    GOOD,
    UNCERTAIN_LAST_USABLE,
    UNCERTAIN_SUBSTITUTE,
)

if TYPE_CHECKING:
    from twin.runtime import Twin

LINK_STATUS = {"good": GOOD, "stale": UNCERTAIN_LAST_USABLE, "offline": BAD_NO_COMMUNICATION}


class HilSync:
    def __init__(self, twin: Twin, pollers: Iterable[BoardPoller], *, subscribe: bool = True
                 ) -> None:
        self.twin = twin
        self.pollers = list(pollers)
        cat = twin.catalogue
        self.sources: dict[str, list[tuple[BoardPoller, int]]] = {}
        for p in self.pollers:
            for path in p.paths:
                if path in cat:
                    self.sources.setdefault(path, []).append((p, cat[path].index))
        self.measured = np.zeros(len(cat), dtype=bool)
        for path in self.sources:
            self.measured[cat[path].index] = True
        self.own = np.array([c.path.startswith("sim.") for c in cat.channels])  # twin's own
        self.model = np.array(twin.mirror.values, dtype=float)  # the plant at the last frame
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
        self.apply()

    def apply(self, now: float | None = None) -> dict[str, float]:
        """Write the boards into the mirror (over the model values of the last frame)."""
        mirror = self.twin.mirror
        now = time.monotonic() if now is None else now
        values = self.model.copy()
        status = np.where(self.measured, BAD_NO_COMMUNICATION,
                          np.where(self.own, GOOD, UNCERTAIN_SUBSTITUTE)).astype(np.uint32)
        source_s = np.array(mirror.source_s, dtype=float)
        states = {id(p): p.link_state(now) for p in self.pollers}
        residuals: dict[str, float] = {}
        for path, boards in self.sources.items():
            ranked = sorted(boards, key=lambda b: ("good", "stale", "offline")
                            .index(states[id(b[0])]))
            p, i = next(((p, i) for p, i in ranked if path in p.values), ranked[0])
            d = p.values.get(path)
            link = states[id(p)]
            if d is None:
                status[i] = BAD_NO_COMMUNICATION
                values[i] = math.nan
                continue
            values[i] = d.value
            if not math.isnan(p.sample_s):
                source_s[i] = p.sample_s
            if link == "good" and d.flag != Flag.OK:
                status[i] = BAD_SENSOR_FAILURE
            else:
                status[i] = LINK_STATUS[link]
            model = self.model[i]
            if link == "good" and d.flag == Flag.OK and math.isfinite(model):
                residuals[path] = d.value - float(model)
        mirror.values, mirror.status, mirror.source_s = values, status, source_s
        mirror.version += 1
        self.residuals = residuals
        self.applied += 1
        self.changed.set()
        return residuals

    def link_stats(self) -> dict[str, dict[str, float | int | bool]]:
        """Board name → its link statistics (no channel names are invented here: the
        catalogue does not name board channels yet)."""
        out = {}
        for p in self.pollers:
            p.stats.online = p.link_state() != "offline"
            out[p.board.name] = p.stats.as_dict()
        return out

    async def run(self, stop: asyncio.Event | None = None, period_s: float = 0.05) -> None:
        """Re-apply every ``period_s`` when no frame did, until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            seen = self.applied
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period_s):
                    await stop.wait()
            if self.applied == seen and not stop.is_set():
                self.apply()

"""Limit alarm states from the catalogue's yellow/red limits, for simple and event clients.

Each channel with limits has a ``LimitState`` property (``ok``, ``yellow-low``, ``yellow-high``,
``red-low``, ``red-high``; NodeId ``<path>.LimitState``) kept current after each publish, and
every transition is an OPC UA event on the Satellite object (severity: red 800, yellow 500,
back to ok 200) with a message naming the channel, value and limit. Values with a Bad status
are not judged. Full Alarms & Conditions instances (AlarmConditionType with Acknowledge and
shelving) are not built yet; the limits are evaluated for all channels at once with numpy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from asyncua import ua

from twin.commands import Event

if TYPE_CHECKING:
    from asyncua import Server

    from twin.opcua.addressspace import TwinNodes
    from twin.runtime import Twin

STATES = ("ok", "yellow-low", "yellow-high", "red-low", "red-high")
SEVERITY = {"ok": 200, "yellow-low": 500, "yellow-high": 500, "red-low": 800, "red-high": 800}


class LimitAlarms:
    def __init__(self, server: Server, twin: Twin, nodes: TwinNodes,
                 emit: Callable[[Event], None]) -> None:
        self.twin = twin
        self.emit = emit
        idx = sorted(nodes.limit_state_ids)
        chans = [twin.catalogue.channels[i] for i in idx]
        self.index = np.array(idx, dtype=np.int64)

        def col(pairs: list[float | None], fill: float) -> np.ndarray:
            return np.array([fill if v is None else v for v in pairs], dtype=float)

        self.y_lo = col([c.yellow[0] for c in chans], -np.inf)
        self.y_hi = col([c.yellow[1] for c in chans], np.inf)
        self.r_lo = col([c.red[0] for c in chans], -np.inf)
        self.r_hi = col([c.red[1] for c in chans], np.inf)
        self.paths = [c.path for c in chans]
        aspace = server.iserver.aspace
        self._attrs = [aspace[nodes.limit_state_ids[i]].attributes[ua.AttributeIds.Value]
                       for i in idx]
        self.state = np.zeros(len(idx), dtype=np.int8)
        self._pending: set[asyncio.Future[None]] = set()

    def evaluate(self) -> np.ndarray:
        """State index (into :data:`STATES`) of every limited channel now."""
        v = self.twin.mirror.values[self.index]
        bad = (self.twin.mirror.status[self.index] & 0x80000000) != 0
        s = np.zeros(len(v), dtype=np.int8)
        s[v < self.y_lo] = 1
        s[v > self.y_hi] = 2
        s[v < self.r_lo] = 3
        s[v > self.r_hi] = 4
        s[bad | np.isnan(v)] = 0
        return s

    def active(self) -> dict[str, str]:
        """Channel path → state for every channel not ``ok``."""
        return {self.paths[k]: STATES[s] for k, s in enumerate(self.state.tolist()) if s}

    def update(self, _changed: np.ndarray | None) -> None:
        new = self.evaluate()
        for k in np.flatnonzero(new != self.state).tolist():
            name = STATES[int(new[k])]
            dv = ua.DataValue(ua.Variant(name, ua.VariantType.String))
            attr = self._attrs[k]
            attr.value = dv
            for handle, cb in list(attr.datachange_callbacks.items()):
                fut = asyncio.ensure_future(cb(handle, dv))
                self._pending.add(fut)
                fut.add_done_callback(self._pending.discard)
            value = float(self.twin.mirror.values[self.index[k]])
            was = STATES[int(self.state[k])]
            self.emit(Event(self.twin.plant.t_s, time.time(), "alarm", SEVERITY[name],
                            f"{self.paths[k]} = {value:g}: {name} (was {was})",
                            {"path": self.paths[k], "state": name}))
        self.state = new

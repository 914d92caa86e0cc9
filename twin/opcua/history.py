"""HistoryRead (raw) for every channel, from an in-memory ring of the mirror's frames.

asyncua's own HistorySQLite crashes on string NodeIds and commits per value; this storage keeps
the last ``capacity`` mirror versions (every frame the twin published, with each channel's
status and simulated source time) in numpy rings and answers ReadRawModifiedDetails for any
channel node: values between StartTime and EndTime (inclusive, by SourceTimestamp), oldest first
or newest first when StartTime is later than EndTime, at most NumValuesPerNode with a
continuation point. Memory: capacity × channels × 20 bytes (3,000 frames of the default
satellite: 54 MB). The recorder's store takes over for older data once replay lands.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from asyncua import ua
from asyncua.server.history import HistoryStorageInterface

from twin.opcua.addressspace import VARIANT, python_value

if TYPE_CHECKING:
    from twin.runtime import Twin

DEFAULT_CAPACITY = 3000


class MirrorHistory(HistoryStorageInterface):  # type: ignore[misc]
    def __init__(self, twin: Twin, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(max_history_data_response_size=10000)
        self.twin = twin
        n = len(twin.catalogue)
        self.capacity = capacity
        self.times = np.full(capacity, np.nan)  # simulated seconds of each stored frame
        self.values = np.full((capacity, n), np.nan)
        self.status = np.zeros((capacity, n), dtype=np.uint32)
        self.source = np.zeros((capacity, n))
        self.count = 0  # frames stored since start (ring position = count % capacity)
        self._last_version = -1
        epoch = twin.config.orbit.epoch
        self.epoch = epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        self.index = {ch.path: ch.index for ch in twin.catalogue.channels}
        self.channels = twin.catalogue.channels
        twin.on_frame(self.record)

    def record(self, twin: Twin) -> None:
        m = twin.mirror
        if m.version == self._last_version:
            return
        self._last_version = m.version
        k = self.count % self.capacity
        self.times[k] = twin.plant.t_s
        self.values[k] = m.values
        self.status[k] = m.status
        self.source[k] = m.source_s
        self.count += 1

    # --- HistoryStorageInterface ---------------------------------------------------------
    async def init(self) -> None:
        return None

    async def new_historized_node(self, node_id: ua.NodeId, period: Any, count: int = 0) -> None:
        return None

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        return None

    async def read_node_history(self, node_id: ua.NodeId, start: datetime | None,
                                end: datetime | None, nb_values: int
                                ) -> tuple[list[ua.DataValue], datetime | None]:
        i = self.index.get(node_id.Identifier) if isinstance(node_id.Identifier, str) else None
        if i is None:
            return [], None
        n = min(self.count, self.capacity)
        order = (np.arange(self.count - n, self.count) % self.capacity)  # oldest first
        src = self.source[order, i]
        keep = np.ones(n, dtype=bool)
        keep[1:] = src[1:] != src[:-1]  # one value per source time (a held value repeats)
        order, src = order[keep], src[keep]
        t0 = self._sim(start)
        t1 = self._sim(end)
        reverse = t0 is not None and t1 is not None and t0 > t1
        lo, hi = (t1, t0) if reverse else (t0, t1)
        sel = np.ones(order.shape[0], dtype=bool)
        if lo is not None:
            sel &= src >= lo - 1e-9
        if hi is not None:
            sel &= src <= hi + 1e-9
        rows = order[sel]
        if reverse or (t0 is None and t1 is not None):
            rows = rows[::-1]
        cont = None
        limit = nb_values or self.max_history_data_response_size
        if rows.shape[0] > limit:
            cont = self._time(float(self.source[rows[limit], i]))
            rows = rows[:limit]
        ch = self.channels[i]
        vtype = VARIANT[ch.dtype]
        out = []
        for r in rows.tolist():
            value = python_value(ch, float(self.values[r, i]))
            code = int(self.status[r, i])
            ts = self._time(float(self.source[r, i]))
            out.append(ua.DataValue(
                Value=ua.Variant(value, vtype) if value is not None else ua.Variant(),
                StatusCode=ua.StatusCode(code), SourceTimestamp=ts, ServerTimestamp=ts))
        return out, cont

    async def new_historized_event(self, source_id: Any, evtypes: Any, period: Any,
                                   count: int = 0) -> None:
        return None

    async def save_event(self, event: Any) -> None:
        return None

    async def read_event_history(self, source_id: Any, start: Any, end: Any, nb_values: int,
                                 evfilter: Any) -> tuple[list[Any], None]:
        return [], None

    async def stop(self) -> None:
        return None

    # --- time ----------------------------------------------------------------------------
    def _sim(self, dt: datetime | None) -> float | None:
        if dt is None or dt.year <= 1601:  # OPC UA's "unspecified" is the Windows epoch
            return None
        aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        return (aware - self.epoch).total_seconds()

    def _time(self, sim_s: float) -> datetime:
        return self.epoch + timedelta(seconds=sim_s)

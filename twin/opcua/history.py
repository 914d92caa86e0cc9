"""HistoryRead (raw) for every channel: recent frames from an in-memory ring, older ones from
the live recording's run store.

The ring keeps the last ``capacity`` mirror versions (every frame the twin published, with each
channel's status and simulated source time) in numpy arrays; memory is capacity × channels ×
20 bytes (3,000 frames of the default satellite: 54 MB). When the twin is recorded
(:class:`~twin.recording.LiveRecorder`, the default for ``twin serve`` and ``twin up``), the run
store answers for what the ring has let go: every tick up to and including the newest frame
evicted from the ring (the *horizon*); the ring answers for values whose source time is after
it. The two parts never overlap, so a read across the boundary has no duplicates and no gaps.

A read is ReadRawModifiedDetails for one channel node: values with StartTime ≤ SourceTimestamp ≤
EndTime, oldest first, or newest first when StartTime is later than EndTime or unspecified (then
from EndTime back), at most NumValuesPerNode (and at most :data:`MAX_VALUES` per call) with a
continuation point, which asyncua hands back as the next StartTime (a backward read without
StartTime is remembered so that its continuation stays backward). ReturnBounds is not supported
(asyncua does not pass it to the storage).

What each value carries:

- from the ring: the mirror's value, status and source time (board time for measured channels);
  one value per source time (a board value held over several frames is returned once);
- from the store: the recorded value at its tick time (SourceTimestamp = ServerTimestamp = tick
  time; the store keeps frames, not board sample times). The store keeps no quality, so the
  status is the one the channel had at that tick by this server's own log of status changes
  (kept from start, a few bytes per change); before the log starts it is ``Uncertain`` (quality
  not known).

Store reads run in a worker thread and through a window that grows until it holds the page
(a page of a day-long run decodes a few blocks, not the day). A call returns at most
:data:`MAX_VALUES` values: the response is built and encoded on the event loop at ~13 µs a
value (mostly asyncua's encoder), so a page of 2,000 holds the loop ~25 ms; clients follow the
continuation points.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from asyncua import ua
from asyncua.server.history import HistoryStorageInterface

from twin.opcua.addressspace import VARIANT, python_value
from twin.store import StoreError

if TYPE_CHECKING:
    from twin.runtime import Twin
    from twin.store import RunReader

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 3000
MAX_VALUES = 2000  # per node and call, when the client asks for more (or for all)
UNKNOWN_QUALITY = 0x40000000  # Uncertain: the store does not say
MAX_STATUS_CHANGES = 100_000  # per channel; older changes are forgotten (then Uncertain)
TOLERANCE_S = 1e-6  # DateTime round trips are exact to the microsecond
_NO_TIMES = np.empty(0)


class StatusLog:
    """Each channel's status changes, as the frames showed them (for values from the store)."""

    def __init__(self, t_s: float, status: np.ndarray) -> None:
        self.last = np.array(status, dtype=np.uint32)
        self.times: list[list[float]] = [[t_s] for _ in range(self.last.size)]
        self.codes: list[list[int]] = [[int(c)] for c in self.last]

    def record(self, t_s: float, status: np.ndarray) -> None:
        changed = np.flatnonzero(status != self.last)
        for i in changed.tolist():
            times, codes = self.times[i], self.codes[i]
            times.append(t_s)
            codes.append(int(status[i]))
            if len(times) > MAX_STATUS_CHANGES:
                del times[:MAX_STATUS_CHANGES // 2], codes[:MAX_STATUS_CHANGES // 2]
        self.last[changed] = status[changed]

    def at(self, i: int, times: np.ndarray) -> np.ndarray:
        """Channel ``i``'s status at each of ``times`` (UNKNOWN_QUALITY before the log)."""
        known = np.asarray(self.times[i])
        codes = np.asarray(self.codes[i] + [UNKNOWN_QUALITY], dtype=np.uint32)
        k = np.searchsorted(known, times, side="right") - 1  # -1: before the log → last entry
        return codes[k]


class MirrorHistory(HistoryStorageInterface):  # type: ignore[misc]
    def __init__(self, twin: Twin, capacity: int = DEFAULT_CAPACITY,
                 store: RunReader | None = None) -> None:
        super().__init__(max_history_data_response_size=MAX_VALUES)
        self.twin = twin
        self.store = store
        n = len(twin.catalogue)
        self.capacity = capacity
        self.times = np.full(capacity, np.nan)  # simulated seconds of each stored frame
        self.values = np.full((capacity, n), np.nan)
        self.status = np.zeros((capacity, n), dtype=np.uint32)
        self.source = np.zeros((capacity, n))
        self.count = 0  # frames stored since start (ring position = count % capacity)
        self.horizon_s = -np.inf  # tick time of the newest frame the ring has let go
        self._last_version = -1
        epoch = twin.config.orbit.epoch
        self.epoch = epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        self._epoch64 = np.datetime64(self.epoch.astimezone(UTC).replace(tzinfo=None), "us")
        self._status_codes: dict[int, ua.StatusCode] = {}  # shared: asyncua never mutates them
        self.index = {ch.path: ch.index for ch in twin.catalogue.channels}
        self.channels = twin.catalogue.channels
        self.quality = StatusLog(twin.plant.t_s, twin.mirror.status)
        self._backward: OrderedDict[tuple[int, int], None] = OrderedDict()
        twin.on_frame(self.record)

    def record(self, twin: Twin) -> None:
        m = twin.mirror
        if m.version == self._last_version:
            return
        self._last_version = m.version
        k = self.count % self.capacity
        if self.count >= self.capacity:
            self.horizon_s = max(self.horizon_s, float(self.times[k]))
        self.times[k] = twin.plant.t_s
        self.values[k] = m.values
        self.status[k] = m.status
        self.source[k] = m.source_s
        self.count += 1
        self.quality.record(twin.plant.t_s, m.status)

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
        t0, t1 = self._sim(start), self._sim(end)
        limit = min(nb_values or MAX_VALUES, MAX_VALUES)
        if t0 is not None and t1 is not None and (i, _us(t0)) in self._backward:
            t0, t1 = None, t0  # the continuation of a backward read without StartTime
        reverse = t1 is not None and (t0 is None or t0 > t1)
        if not reverse:
            lo, hi = t0, t1
        elif t0 is None:  # back from EndTime
            lo, hi = None, t1
        else:
            lo, hi = t1, t0
        lo = -np.inf if lo is None else lo - TOLERANCE_S
        hi = np.inf if hi is None else hi + TOLERANCE_S
        ring_t, ring_rows = self._ring(i, lo, hi)  # oldest first; a snapshot taken now
        horizon = self.horizon_s
        store_t, store_v = _NO_TIMES, _NO_TIMES
        want = limit + 1 - (ring_t.size if reverse else 0)  # +1: is there more after?
        if self.store is not None and -np.inf < horizon and lo <= horizon and want > 0:
            store_t, store_v = await self._read_store(self.store, i, lo, min(hi, horizon),
                                                      want, newest=reverse)
        total = store_t.size + ring_t.size
        picks = np.arange(total)[::-1] if reverse else np.arange(total)
        cont = None
        if total > limit:
            nxt = int(picks[limit])
            cont = self._time(float(store_t[nxt] if nxt < store_t.size
                                    else ring_t[nxt - store_t.size]))
            if t0 is None and reverse:
                self._remember_backward(i, cont)
            picks = picks[:limit]
        return self._datavalues(i, picks, store_t, store_v, ring_rows), cont

    def _ring(self, i: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Source times and ring rows of channel ``i`` in ``[lo, hi]``, after the horizon."""
        n = min(self.count, self.capacity)
        rows = np.arange(self.count - n, self.count) % self.capacity  # oldest first
        src = self.source[rows, i]
        keep = np.ones(n, dtype=bool)
        keep[1:] = src[1:] != src[:-1]  # one value per source time (a held value repeats)
        keep &= (src >= lo) & (src <= hi)
        if self.store is not None:
            keep &= src > self.horizon_s  # the store answers up to the horizon
        return src[keep], rows[keep]

    async def _read_store(self, store: RunReader, i: int, lo: float, hi: float, want: int,
                          newest: bool) -> tuple[np.ndarray, np.ndarray]:
        """The oldest (or ``newest``) ``want`` recorded ticks of channel ``i`` in ``[lo, hi]``,
        read in a worker thread through a window that grows until it holds them."""
        path = self.channels[i].path
        try:
            return await asyncio.to_thread(_read_window, store, path, lo, hi, want, newest)
        except StoreError as exc:  # e.g. closed at shutdown, or a run of other channels
            log.warning("history of %s from %s: %s", path, store.directory, exc)
            return _NO_TIMES, _NO_TIMES

    def _datavalues(self, i: int, picks: np.ndarray, store_t: np.ndarray,
                    store_v: np.ndarray, ring_rows: np.ndarray) -> list[ua.DataValue]:
        ch = self.channels[i]
        vtype = VARIANT[ch.dtype]
        m = store_t.size
        in_store = picks < m
        s_idx = picks[in_store]
        codes = np.zeros(picks.size, dtype=np.uint32)
        times = np.empty(picks.size)
        values = np.empty(picks.size)
        codes[in_store] = self.quality.at(i, store_t[s_idx])
        times[in_store] = store_t[s_idx]
        values[in_store] = store_v[s_idx]
        r = ring_rows[picks[~in_store] - m]
        codes[~in_store] = self.status[r, i]
        times[~in_store] = self.source[r, i]
        values[~in_store] = self.values[r, i]
        # naive UTC datetimes (as asyncua encodes them), rounded to the µs as timedelta rounds
        stamps = (self._epoch64 + np.round(times * 1e6).astype("timedelta64[us]")).astype(object)
        status = self._status_codes
        out = []
        for value, code, ts in zip(values.tolist(), codes.tolist(), stamps.tolist(), strict=True):
            v = python_value(ch, value)
            sc = status.get(code) or status.setdefault(code, ua.StatusCode(code))
            out.append(ua.DataValue(ua.Variant(v, vtype) if v is not None else ua.Variant(), sc,
                                    ts, ts))
        return out

    def _remember_backward(self, i: int, cont: datetime) -> None:
        sim = self._sim(cont)
        assert sim is not None
        self._backward[(i, _us(sim))] = None
        while len(self._backward) > 1000:
            self._backward.popitem(last=False)

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


def _read_window(store: RunReader, path: str, lo: float, hi: float, want: int,
                 newest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``want`` ticks of ``path`` in ``[lo, hi]`` next to ``hi`` (``newest``) or ``lo``.

    A window of ``want`` recording periods first, four times wider until it holds enough: a
    page of a day-long run decodes a few blocks, not the day."""
    span = store.time_range()
    if span is None:
        return _NO_TIMES, _NO_TIMES
    lo, hi = max(lo, span[0]), min(hi, span[1])
    if lo > hi:
        return _NO_TIMES, _NO_TIMES
    width = want * (store.meta.record_every_s or store.meta.step_s or 1.0)
    while True:
        a, b = (max(lo, hi - width), hi) if newest else (lo, min(hi, lo + width))
        times, values = store.read_channel(path, a, b)
        if times.size >= want or (a <= lo and b >= hi):
            keep = slice(-want, None) if newest else slice(0, want)
            return times[keep], values[keep]
        width *= 4


def _us(sim_s: float) -> int:
    return round(sim_s * 1e6)


def recording_of(twin: Twin) -> RunReader | None:
    """The run store a :class:`~twin.recording.LiveRecorder` fills from ``twin``, if any (for
    servers started without ``ServerOptions.history_store``)."""
    return twin.recording

"""Reading a run: channels over time ranges, whole frames, an instant (a replay seek), records.

Every read runs in one SQLite read transaction, so it sees one committed state of the run even
while another process is writing it (WAL): sealed blocks and the unsealed tail of that state,
each tick exactly once. A run whose writer was killed reads the same way; it simply ends at the
writer's last commit. Ranges are inclusive at both ends and in simulated seconds; ``None`` means
"from the start" or "to the end".

Decoded blocks are kept in a small LRU cache (all channels of a block), so a replay stepping
tick by tick decodes each block once; decoded tick times are kept too (sealed blocks never
change).
"""

from __future__ import annotations

import difflib
import json
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from twin.catalogue import Channel
from twin.store import codec
from twin.store.errors import StoreError
from twin.store.schema import (
    CHANNEL_BITS,
    AlarmRecord,
    CommandRecord,
    EventRecord,
    RunMeta,
    channel_from_row,
)

CACHE_BLOCKS = 4  # decoded blocks of every channel kept for seeks
TIMES_CACHE_TICKS = 1 << 22  # decoded tick times kept for range reads (32 MB)
_EMPTY = np.empty(0)


class RunReader:
    """Read access to one recorded run; :class:`~twin.store.RunStore` adds writing."""

    directory: Path
    meta: RunMeta
    block_ticks: int
    readonly: bool

    def _init_reader(self, directory: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self.directory = directory
        self.readonly = readonly
        self._conn = conn
        self._lock = threading.RLock()
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.meta = RunMeta.from_rows(rows)
        self.block_ticks = int(json.loads(rows["block_ticks"]))
        self._channels = tuple(channel_from_row(r) for r in conn.execute(
            "SELECT * FROM channels ORDER BY idx"))
        self._index = {ch.path: i for i, ch in enumerate(self._channels)}
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._times: dict[int, np.ndarray] = {}

    # --- what the run holds ----------------------------------------------------------------
    def channels(self) -> tuple[Channel, ...]:
        """The recorded channels, in frame order (``Channel.index`` is the frame position)."""
        return self._channels

    def __len__(self) -> int:
        """The number of channels (the length of a frame)."""
        return len(self._channels)

    def channel_index(self, path: str) -> int:
        """The frame position of ``path``; a :class:`StoreError` naming near misses if unknown."""
        try:
            return self._index[path]
        except (KeyError, TypeError):
            near = difflib.get_close_matches(str(path), self._index, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise StoreError(f"{self.directory}: no channel {path!r} in this run "
                             f"({len(self._index)} channels){hint}") from None

    def time_range(self) -> tuple[float, float] | None:
        """First and last recorded tick times, or None for a run with no ticks yet."""
        with self._snapshot():
            first = self._conn.execute(
                "SELECT t_first FROM blocks ORDER BY id LIMIT 1").fetchone()
            last = self._conn.execute(
                "SELECT t_last FROM blocks ORDER BY id DESC LIMIT 1").fetchone()
            n_tail, tail_first, tail_last = self._tail_summary()
        lo = first[0] if first else (tail_first if n_tail else None)
        hi = tail_last if n_tail else (last[0] if last else None)
        return None if lo is None or hi is None else (lo, hi)

    def tick_count(self) -> int:
        """How many ticks (frames) the run holds."""
        with self._snapshot():
            (n,) = self._conn.execute("SELECT coalesce(sum(n), 0) FROM blocks").fetchone()
            n_tail = self._tail_summary()[0]
        return int(n) + n_tail

    # --- samples ---------------------------------------------------------------------------
    def read_channel(self, path: str, t0: float | None = None, t1: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of one channel for ticks with ``t0 ≤ t ≤ t1``."""
        times, values = self.read_channels([path], t0, t1)
        return times, values[:, 0]

    def read_channels(self, paths: Sequence[str], t0: float | None = None,
                      t1: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) for ticks with ``t0 ≤ t ≤ t1``; values has one column per path."""
        if isinstance(paths, str):
            paths = [paths]
        cols = [self.channel_index(p) for p in paths]
        lo, hi = _bounds(t0, t1, self.directory)
        with self._snapshot():
            blocks = self._blocks_between(lo, hi)
            parts_t: list[np.ndarray] = []
            parts_v: list[np.ndarray] = []
            if blocks:
                ns = [b[1] for b in blocks]
                parts_t.append(np.concatenate(self._block_times(blocks)))
                first, last = blocks[0][0], blocks[-1][0]
                columns = []
                for c in cols:
                    blobs = [r[0] for r in self._conn.execute(
                        "SELECT s.data FROM blocks b JOIN samples s "
                        f"ON s.id = (b.id << {CHANNEL_BITS}) + ? "
                        "WHERE b.id BETWEEN ? AND ? ORDER BY b.id", (c, first, last))]
                    if len(blobs) != len(blocks):
                        raise self._corrupt(f"channel {self._channels[c].path} misses blocks")
                    columns.append(np.concatenate(_decode_many(blobs, ns)))
                parts_v.append(np.stack(columns, axis=1))
            tt, tf = self._tail(lo)
        if tt.size:
            parts_t.append(tt)
            parts_v.append(tf[:, cols])
        return _clip(parts_t, parts_v, lo, hi, len(cols))

    def read_frames(self, t0: float | None = None, t1: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(times, frames) of every channel for ticks with ``t0 ≤ t ≤ t1``: shape (n, channels)."""
        lo, hi = _bounds(t0, t1, self.directory)
        parts_t: list[np.ndarray] = []
        parts_v: list[np.ndarray] = []
        with self._snapshot():
            for bid, n, tblob in self._blocks_between(lo, hi):
                times, values = self._block(bid, n, tblob)
                parts_t.append(times)
                parts_v.append(values.T)
            tt, tf = self._tail(lo)
        if tt.size:
            parts_t.append(tt)
            parts_v.append(tf)
        return _clip(parts_t, parts_v, lo, hi, len(self._channels))

    def seek(self, t: float) -> tuple[float, np.ndarray]:
        """The latest tick at or before ``t``: (its time, its frame of every channel)."""
        if not isinstance(t, (int, float, np.floating, np.integer)) or math.isnan(t):
            raise StoreError(f"{self.directory}: seek time {t!r}: expected a number of seconds")
        with self._snapshot():
            hit = self._tail_at(float(t))
            if hit is not None:
                return hit
            row = self._conn.execute(
                "SELECT id, n, times FROM blocks WHERE t_first <= ? "
                "ORDER BY t_first DESC LIMIT 1", (float(t),)).fetchone()
            if row is None:
                span = self.time_range()
                where = f"the run starts at t = {span[0]:g} s" if span else "the run is empty"
                raise StoreError(f"{self.directory}: nothing recorded at or before "
                                 f"t = {t:g} s; {where}")
            times, values = self._block(*row)
        k = int(np.searchsorted(times, t, side="right")) - 1
        return float(times[k]), values[:, k].copy()

    def read_instant(self, t: float) -> np.ndarray:
        """Every channel at the latest tick at or before ``t`` (a replay seek)."""
        return self.seek(t)[1]

    # --- records ---------------------------------------------------------------------------
    def commands(self, t0: float | None = None, t1: float | None = None, *,
                 name: str | None = None, user: str | None = None) -> list[CommandRecord]:
        """Commands with ``t0 ≤ t_s ≤ t1`` in time order, optionally of one name or user."""
        rows = self._records("commands", t0, t1, {"name": name, "user": user})
        return [CommandRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6],
                              json.loads(r[7])) for r in rows]

    def events(self, t0: float | None = None, t1: float | None = None, *,
               min_severity: int = 0, source: str | None = None, kind: str | None = None
               ) -> list[EventRecord]:
        """Events with ``t0 ≤ t_s ≤ t1`` and severity ≥ ``min_severity``, in time order."""
        rows = self._records("events", t0, t1, {"source": source, "kind": kind},
                             "severity >= ?", (int(min_severity),))
        return [EventRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
                for r in rows]

    def alarms(self, t0: float | None = None, t1: float | None = None, *,
               source: str | None = None) -> list[AlarmRecord]:
        """Alarm transitions with ``t0 ≤ t_s ≤ t1``, in time order."""
        rows = self._records("alarms", t0, t1, {"source": source})
        return [AlarmRecord(*r) for r in rows]

    # --- internals -------------------------------------------------------------------------
    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Hold the lock and, for a reader, one read transaction (one consistent state)."""
        with self._lock:
            conn = self._check_open()
            if not self.readonly or conn.in_transaction:
                yield
                return
            conn.execute("BEGIN")
            try:
                yield
            finally:
                conn.execute("COMMIT")

    def _check_open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.directory}: the run is closed")
        return self._conn

    # The unsealed ticks, from the ``tail`` table; the writer overrides these with its buffer.
    def _tail(self, since: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        """Times and frames of unsealed ticks, from the chunk holding ``since`` on."""
        rows = self._conn.execute("SELECT times, frames FROM tail WHERE t_last >= ? "
                                  "ORDER BY seq", (since,)).fetchall()
        if not rows:
            return _EMPTY, np.empty((0, len(self._channels)))
        times = np.concatenate([np.frombuffer(r[0], dtype="<f8") for r in rows])
        frames = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f8")
        return times.astype(np.float64), frames.reshape(times.size, -1).astype(np.float64)

    def _tail_at(self, t: float) -> tuple[float, np.ndarray] | None:
        """The latest unsealed tick at or before ``t``, if there is one."""
        row = self._conn.execute("SELECT times, frames FROM tail WHERE t_first <= ? "
                                 "ORDER BY seq DESC LIMIT 1", (t,)).fetchone()
        if row is None:
            return None
        times = np.frombuffer(row[0], dtype="<f8")
        k = int(np.searchsorted(times, t, side="right")) - 1
        frames = np.frombuffer(row[1], dtype="<f8").reshape(times.size, -1)
        return float(times[k]), frames[k].astype(np.float64)

    def _tail_summary(self) -> tuple[int, float, float]:
        """(count, first time, last time) of the unsealed ticks."""
        n, first, last = self._conn.execute(
            "SELECT coalesce(sum(n), 0), min(t_first), max(t_last) FROM tail").fetchone()
        return int(n), math.nan if first is None else first, math.nan if last is None else last

    def _blocks_between(self, lo: float, hi: float) -> list[tuple[int, int, bytes]]:
        conn = self._conn
        first = conn.execute("SELECT id FROM blocks WHERE t_last >= ? ORDER BY t_last LIMIT 1",
                             (lo,)).fetchone()
        last = conn.execute("SELECT id FROM blocks WHERE t_first <= ? "
                            "ORDER BY t_first DESC LIMIT 1", (hi,)).fetchone()
        if first is None or last is None or first[0] > last[0]:
            return []
        return conn.execute("SELECT id, n, times FROM blocks WHERE id BETWEEN ? AND ? "
                            "ORDER BY id", (first[0], last[0])).fetchall()

    def _block_times(self, blocks: Sequence[tuple[int, int, bytes]]) -> list[np.ndarray]:
        """The tick times of sealed blocks, decoded once per reader (blocks never change)."""
        known = self._times
        todo = [b for b in blocks if b[0] not in known]
        if todo:
            if sum(len(t) for t in known.values()) > TIMES_CACHE_TICKS:
                known.clear()
            for (bid, _, _), times in zip(todo, _decode_many([b[2] for b in todo],
                                                             [b[1] for b in todo]), strict=True):
                known[bid] = times
        return [known[b[0]] for b in blocks]

    def _block(self, bid: int, n: int, tblob: bytes) -> tuple[np.ndarray, np.ndarray]:
        """A sealed block's (times, values of shape (channels, n)), through the cache."""
        hit = self._cache.get(bid)
        if hit is not None:
            self._cache.move_to_end(bid)
            return hit
        base = bid << CHANNEL_BITS
        blobs = [r[0] for r in self._conn.execute(
            "SELECT data FROM samples WHERE id BETWEEN ? AND ? ORDER BY id",
            (base, base + len(self._channels) - 1))]
        if len(blobs) != len(self._channels):
            raise self._corrupt(f"block {bid} holds {len(blobs)} of {len(self._channels)} "
                                "channels")
        entry = (self._block_times([(bid, n, tblob)])[0], codec.decode_columns(blobs, n))
        self._cache[bid] = entry
        if len(self._cache) > CACHE_BLOCKS:
            self._cache.popitem(last=False)
        return entry

    def _records(self, table: str, t0: float | None, t1: float | None,
                 equal: dict[str, str | None], extra: str = "", extra_args: tuple[Any, ...] = ()
                 ) -> list[tuple[Any, ...]]:
        lo, hi = _bounds(t0, t1, self.directory)
        where = ["t_s >= ?", "t_s <= ?"]
        args: list[Any] = [lo, hi]
        for col, val in equal.items():
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if extra:
            where.append(extra)
            args.extend(extra_args)
        with self._snapshot():
            return self._conn.execute(
                f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY t_s, id",
                args).fetchall()

    def _corrupt(self, what: str) -> StoreError:
        return StoreError(f"{self.directory}: the run is damaged: {what}")


def _bounds(t0: float | None, t1: float | None, where: Path) -> tuple[float, float]:
    lo = -math.inf if t0 is None else float(t0)
    hi = math.inf if t1 is None else float(t1)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise StoreError(f"{where}: time range {t0!r} .. {t1!r}: expected t0 ≤ t1 in seconds")
    return lo, hi


def _decode_many(blobs: Sequence[bytes], ns: Sequence[int]) -> list[np.ndarray]:
    """Decode column blobs of possibly different lengths, batching blobs of equal length."""
    out: list[np.ndarray] = [_EMPTY] * len(blobs)
    groups: dict[int, list[int]] = {}
    for i, n in enumerate(ns):
        groups.setdefault(n, []).append(i)
    for n, idx in groups.items():
        decoded = codec.decode_columns([blobs[i] for i in idx], n)
        for row, i in enumerate(idx):
            out[i] = decoded[row]
    return out


def _clip(parts_t: list[np.ndarray], parts_v: list[np.ndarray], lo: float, hi: float,
          width: int) -> tuple[np.ndarray, np.ndarray]:
    if not parts_t:
        return _EMPTY.copy(), np.empty((0, width))
    times = np.concatenate(parts_t)  # always a fresh array: never a view of the cache
    values = np.concatenate(parts_v)
    a = int(np.searchsorted(times, lo, side="left"))
    b = int(np.searchsorted(times, hi, side="right"))
    return times[a:b], values[a:b]

"""Writing a run: the embedded, crash-safe store the recorder fills (format: :mod:`.schema`).

A run directory holds ``run.sqlite`` (one SQLite 3 database, WAL journal while a writer has it
open) and ``run.lock`` (the writer's advisory ``flock``: one writer per run, released by the
kernel even on ``kill -9``). Other files in the directory (summaries, plots) are left alone.

Recording rule: every channel at every tick the caller appends, bit for bit (float64, lossless).
The recorder decides the rate (``RunMeta.record_every_s``: every plant step by default); nothing
is thinned on change or deadband, so a replay shows exactly what the twin saw.

How ticks reach the disk: :meth:`RunStore.append` copies a frame into a buffer of
``block_ticks`` rows. A full buffer is *sealed*: encoded column by column
(:mod:`twin.store.codec`) into one ``blocks`` row and one ``samples`` row per channel. Commits
happen on :meth:`flush`, on :meth:`close`, and automatically once ``commit_every_s`` (1 s) of
wall time has passed since the last one — checked on every write and by a small background
thread while the caller is idle. A commit first saves the not-yet-sealed rows as raw frames in
``tail``; sealing deletes those tail rows in the same transaction. With ``synchronous=NORMAL``
in WAL mode a commit survives the death of the process (not a power cut: the OS may lose the
last commits then, but never the database's consistency), so ``kill -9`` loses at most the
ticks appended since the last commit, i.e. at most ~1 s of wall time.

Why SQLite: one file, a stdlib driver, atomic commits, and WAL lets any number of readers in
other processes read a consistent snapshot while the writer appends. Why columns in blocks:
reading one channel over a day touches ~1/900 of the data, and a block of one channel compresses
2.4–4.7× without loss on plant data. ``block_ticks`` (default 256 ticks for ~900 channels,
scaled inversely with the channel count) bounds the cost of a cold seek, which decodes one
block of every channel.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from twin.catalogue import Catalogue, Channel
from twin.store import codec
from twin.store.errors import StoreError
from twin.store.files import WriterLock, check_format, connect, locate, write_empty_run
from twin.store.reader import RunReader
from twin.store.schema import CHANNEL_BITS, DB_NAME, MAX_CHANNELS, RunMeta, to_json
from twin.store.writer import Writer

COMMIT_EVERY_S = 1.0


def default_block_ticks(n_channels: int) -> int:
    """Ticks per block: a power of two near 2**18 samples per block, from 64 to 4096."""
    target = max(1, (1 << 18) // max(1, n_channels))
    return int(min(4096, max(64, 1 << (target.bit_length() - 1))))


class RunStore(RunReader):
    """One recorded run: create or open it, append frames and records, read it back."""

    _writer_state: Writer | None

    # --- making and opening ----------------------------------------------------------------
    @classmethod
    def create(cls, directory: str | Path, catalogue: Catalogue | Sequence[Channel],
               meta: RunMeta | None = None, *, block_ticks: int | None = None,
               commit_every_s: float = COMMIT_EVERY_S, level: int = 1) -> RunStore:
        """A new, empty run in ``directory`` (made if missing), open for writing."""
        directory = Path(directory)
        channels = list(catalogue.channels if isinstance(catalogue, Catalogue) else catalogue)
        if not channels or len(channels) > MAX_CHANNELS:
            raise StoreError(f"{directory}: a run records 1 to {MAX_CHANNELS} channels, "
                             f"got {len(channels)}")
        paths = [ch.path for ch in channels]
        if len(set(paths)) != len(paths):
            dup = sorted({p for p in paths if paths.count(p) > 1})[:3]
            raise StoreError(f"{directory}: duplicate channel paths {dup}")
        n = block_ticks or default_block_ticks(len(channels))
        if not 1 <= n <= 65536:
            raise StoreError(f"{directory}: block_ticks = {n}: expected 1 to 65536")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{directory}: cannot make the run directory ({exc})") from None
        lock = WriterLock(directory)
        try:
            db = directory / DB_NAME
            if db.exists():
                raise StoreError(f"{directory} already holds a run; record into a new directory")
            write_empty_run(directory, channels, (meta or RunMeta()).completed(), n)
            return cls._writer(directory, lock, commit_every_s, level)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(cls, directory: str | Path, readonly: bool = True, *,
             commit_every_s: float = COMMIT_EVERY_S, level: int = 1) -> RunStore:
        """An existing run: read-only (any number, in any process, even while it is written)
        or, with ``readonly=False``, for appending more (one writer at a time)."""
        directory, db = locate(Path(directory))
        if readonly:
            uri = f"file:{quote(str(db.resolve()))}?mode=ro"
            conn = connect(db, uri, directory)
            store = cls.__new__(cls)
            store._writer_state = None
            try:
                check_format(conn, directory)
                _init(store, directory, conn, readonly=True)
            except BaseException:
                conn.close()
                raise
            return store
        lock = WriterLock(directory)
        try:
            return cls._writer(directory, lock, commit_every_s, level)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def branch(cls, parent: str | Path, directory: str | Path, fork_t_s: float,
               meta: RunMeta | None = None, *, copy_history: bool = True) -> RunStore:
        """A what-if run forked from ``parent`` at ``fork_t_s``, open for writing.

        It records the parent's id, its path relative to the new run and the fork time; with
        ``copy_history`` it starts with the parent's ticks and records up to ``fork_t_s``, so
        the branch reads as one continuous run (sealed blocks are copied without re-encoding).
        """
        src = cls.open(parent)
        try:
            base = meta or replace(src.meta, extra={})
            rel = os.path.relpath(src.directory.resolve(), Path(directory).resolve())
            new = replace(base, origin="branch", parent_id=src.meta.run_id, parent_path=rel,
                          fork_t_s=float(fork_t_s), run_id="", created="")
            dst = cls.create(directory, src.channels(), new, block_ticks=src.block_ticks)
            if copy_history:
                try:
                    dst._copy_history(src, float(fork_t_s))
                except BaseException:
                    dst.close()
                    raise
            return dst
        finally:
            src.close()

    def open_parent(self) -> RunStore:
        """The run this branch forked from, read-only."""
        if self.meta.parent_path is None:
            raise StoreError(f"{self.directory} is not a branch: it has no parent run")
        return RunStore.open(self.directory / self.meta.parent_path)

    # --- writing ---------------------------------------------------------------------------
    def append(self, t_s: float, frame: np.ndarray | Sequence[float]) -> None:
        """Record one tick: every channel's value at simulated time ``t_s`` (increasing)."""
        with self._recording() as w:
            f = _floats(frame, self.directory)
            if f.shape != (w.width,):
                raise self._bad_frames(f.shape, "a frame")
            t = _time(t_s, self.directory)
            if not t > w.last_t:
                raise self._not_increasing(t, w.last_t)
            i = w.fill
            w.buf_t[i] = t
            w.buf_f[i] = f
            w.fill = i + 1
            w.last_t = t
            w.dirty = True
            if w.fill == self.block_ticks:
                self._seal_buffer()
            if time.monotonic() >= w.due:
                self._commit()

    def append_block(self, times: np.ndarray | Sequence[float], frames: np.ndarray) -> None:
        """Record many ticks at once: ``frames`` has one row per time, one column per channel."""
        with self._recording() as w:
            tt = _floats(times, self.directory)
            ff = _floats(frames, self.directory)
            if tt.ndim != 1 or ff.shape != (tt.size, w.width):
                raise self._bad_frames(ff.shape, f"{tt.size} frames")
            if tt.size == 0:
                return
            if not np.all(np.isfinite(tt)) or not np.all(tt[1:] > tt[:-1]):
                raise StoreError(f"{self.directory}: block times must be finite and strictly "
                                 "increasing")
            if not tt[0] > w.last_t:
                raise self._not_increasing(float(tt[0]), w.last_t)
            n, i, m = self.block_ticks, 0, tt.size
            while i < m:
                if w.fill == 0 and m - i >= n:
                    self._seal(tt[i:i + n], ff[i:i + n])
                    i += n
                else:
                    take = min(n - w.fill, m - i)
                    w.buf_t[w.fill:w.fill + take] = tt[i:i + take]
                    w.buf_f[w.fill:w.fill + take] = ff[i:i + take]
                    w.fill += take
                    i += take
                    if w.fill == n:
                        self._seal_buffer()
                w.last_t = float(tt[i - 1])
                w.dirty = True
                if time.monotonic() >= w.due:
                    self._commit()

    def record_command(self, t_s: float, user: str, name: str,
                       args: dict[str, Any] | None = None, status: str = "Good",
                       result: Any = None, wall_time: float | None = None) -> int:
        """Log a command: who, when (simulated and wall), what, and its result; returns its id."""
        return self._insert(
            "INSERT INTO commands (t_s, wall_time, user, name, args, status, result) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_time(t_s, self.directory), _wall(wall_time), str(user), str(name),
             to_json(args or {}), str(status), to_json(result)))

    def record_event(self, t_s: float, severity: int, source: str, kind: str, message: str,
                     data: Any = None, wall_time: float | None = None) -> int:
        """Log an event (severity 1–1000 as in OPC UA); returns its id."""
        if not 1 <= int(severity) <= 1000:
            raise StoreError(f"{self.directory}: event severity {severity!r}: expected 1 to 1000")
        return self._insert(
            "INSERT INTO events (t_s, wall_time, severity, source, kind, message, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_time(t_s, self.directory), _wall(wall_time), int(severity), str(source),
             str(kind), str(message), to_json(data)))

    def record_alarm(self, t_s: float, source: str, state: str, previous: str,
                     value: float | None = None, message: str = "",
                     wall_time: float | None = None) -> int:
        """Log an alarm transition of ``source`` from ``previous`` to ``state``."""
        v = None if value is None or math.isnan(float(value)) else float(value)
        return self._insert(
            "INSERT INTO alarms (t_s, wall_time, source, state, previous, value, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_time(t_s, self.directory), _wall(wall_time), str(source), str(state),
             str(previous), v, str(message)))

    def set_extra(self, key: str, value: Any) -> None:
        """Add or replace one entry of ``meta.extra`` (e.g. a summary or expectation results)."""
        with self._recording() as w:
            extra = {**self.meta.extra, str(key): value}
            self._begin()
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('extra', ?)",
                               (to_json(extra),))
            self.meta = replace(self.meta, extra=extra)
            w.dirty = True

    def flush(self) -> None:
        """Commit everything appended and recorded so far."""
        with self._recording():
            self._commit()

    @property
    def committed_t_s(self) -> float | None:
        """Time of the last tick that is committed (survives a crash of this process)."""
        w = self._writer_state
        if w is None:
            span = self.time_range()
            return None if span is None else span[1]
        return None if w.committed_t == -math.inf else w.committed_t

    def close(self) -> None:
        """Seal and commit what is buffered (a writer) and release the run. Idempotent."""
        w = self._writer_state
        if w is not None:
            w.stop.set()
            if w.thread is not threading.current_thread():
                w.thread.join()
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                if w is not None and w.failure is None:
                    try:
                        if w.fill:
                            self._seal_buffer()
                        self._commit()
                    except (sqlite3.Error, OSError) as exc:
                        raise StoreError(f"{self.directory}: could not save the last ticks "
                                         f"({exc}); the run ends at its last commit") from exc
                    conn.execute("PRAGMA busy_timeout = 0")
                    with contextlib.suppress(sqlite3.Error):  # a reader may still hold it
                        conn.execute("PRAGMA journal_mode=DELETE")  # a finished run: one file
            finally:
                conn.close()
                self._conn = None  # type: ignore[assignment]
                self._cache.clear()
                if w is not None:
                    w.lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------
    @classmethod
    def _writer(cls, directory: Path, lock: WriterLock, commit_every_s: float,
                level: int) -> RunStore:
        db = directory / DB_NAME
        conn = connect(db, f"file:{quote(str(db.resolve()))}", directory)
        store = cls.__new__(cls)
        try:
            check_format(conn, directory)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            store._writer_state = None
            _init(store, directory, conn, readonly=False)
            store._writer_state = Writer(store, lock, commit_every_s, level)
        except BaseException:
            conn.close()
            raise
        return store

    @contextlib.contextmanager
    def _recording(self) -> Iterator[Writer]:
        """Hold the lock for a write; a database or disk failure stops the recording."""
        with self._lock:
            w = self._writing()
            try:
                yield w
            except (sqlite3.Error, OSError) as exc:
                w.failure = exc
                raise StoreError(f"{self.directory}: recording stopped: {exc}") from exc

    def _writing(self) -> Writer:
        w = self._writer_state
        if w is None:
            raise StoreError(f"{self.directory}: opened read-only; open it with readonly=False "
                             "to record into it")
        self._check_open()
        if w.failure is not None:
            raise StoreError(f"{self.directory}: recording stopped: {w.failure}")
        return w

    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")

    def _insert(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._recording() as w:
            self._begin()
            row_id = self._conn.execute(sql, args).lastrowid
            w.dirty = True
            if time.monotonic() >= w.due:
                self._commit()
            return int(row_id or 0)

    def _seal(self, times: np.ndarray, frames: np.ndarray) -> None:
        w = self._writer_state
        assert w is not None
        blobs = codec.encode_block(frames, w.level)
        tblob = codec.encode_column(times, w.level)
        bid = w.next_block
        base = bid << CHANNEL_BITS
        self._begin()
        self._conn.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?)",
                           (bid, int(times.size), float(times[0]), float(times[-1]), tblob))
        self._conn.executemany("INSERT INTO samples VALUES (?, ?)",
                               zip(range(base, base + len(blobs)), blobs, strict=True))
        w.next_block = bid + 1

    def _seal_buffer(self) -> None:
        w = self._writer_state
        assert w is not None
        self._seal(w.buf_t[:w.fill], w.buf_f[:w.fill])
        if w.saved:
            self._conn.execute("DELETE FROM tail")
        w.fill = w.saved = 0

    def _commit(self) -> None:
        w = self._writer_state
        assert w is not None
        conn = self._conn
        if w.fill > w.saved:
            a, b = w.saved, w.fill
            self._begin()
            conn.execute("INSERT INTO tail (n, t_first, t_last, times, frames) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (b - a, float(w.buf_t[a]), float(w.buf_t[b - 1]),
                          w.buf_t[a:b].astype("<f8").tobytes(),
                          w.buf_f[a:b].astype("<f8").tobytes()))
            w.saved = b
        if conn.in_transaction:
            conn.execute("COMMIT")
        w.committed_t = w.last_t
        w.dirty = False
        w.due = time.monotonic() + w.commit_every_s

    def _tail(self, since: float = -math.inf) -> tuple[np.ndarray, np.ndarray]:
        w = self._writer_state
        if w is None:
            return super()._tail(since)
        k = int(np.searchsorted(w.buf_t[:w.fill], since, side="left"))
        return w.buf_t[k:w.fill].copy(), w.buf_f[k:w.fill].copy()

    def _tail_at(self, t: float) -> tuple[float, np.ndarray] | None:
        w = self._writer_state
        if w is None:
            return super()._tail_at(t)
        k = int(np.searchsorted(w.buf_t[:w.fill], t, side="right")) - 1
        return None if k < 0 else (float(w.buf_t[k]), w.buf_f[k].copy())

    def _tail_summary(self) -> tuple[int, float, float]:
        w = self._writer_state
        if w is None:
            return super()._tail_summary()
        if not w.fill:
            return 0, math.nan, math.nan
        return w.fill, float(w.buf_t[0]), float(w.buf_t[w.fill - 1])

    def _copy_history(self, src: RunStore, t: float) -> None:
        """Copy ``src``'s ticks and records with time ≤ ``t`` into this (empty) run."""
        w = self._writer_state
        assert w is not None
        conn = self._conn
        conn.execute("ATTACH DATABASE ? AS parent",
                     (f"file:{quote(str((src.directory / DB_NAME).resolve()))}?mode=ro",))
        try:
            self._begin()
            (k,) = conn.execute("SELECT count(*) FROM parent.blocks WHERE t_last <= ?",
                                (t,)).fetchone()
            conn.execute("INSERT INTO blocks SELECT * FROM parent.blocks WHERE id < ?", (k,))
            conn.execute("INSERT INTO samples SELECT * FROM parent.samples WHERE id < ?",
                         (k << CHANNEL_BITS,))
            for table in ("commands", "events", "alarms"):
                conn.execute(f"INSERT INTO {table} SELECT * FROM parent.{table} "
                             "WHERE t_s <= ?", (t,))
            conn.execute("COMMIT")
        finally:
            conn.execute("DETACH DATABASE parent")
        row = conn.execute("SELECT coalesce(max(id) + 1, 0), max(t_last) FROM blocks"
                           ).fetchone()
        w.next_block = int(row[0])
        w.last_t = -math.inf if row[1] is None else float(row[1])
        times, frames = src.read_frames(row[1], t)
        later = times > w.last_t
        self.append_block(times[later], frames[later])
        self._commit()

    def _bad_frames(self, shape: tuple[int, ...], what: str) -> StoreError:
        return StoreError(f"{self.directory}: {what} of shape {shape}: this run records "
                          f"{len(self._channels)} channels per tick, in catalogue order")

    def _not_increasing(self, t: float, last: float) -> StoreError:
        return StoreError(f"{self.directory}: tick at t = {t!r} s is not after the last "
                          f"recorded tick (t = {last!r} s); times must increase")


def _init(store: RunStore, directory: Path, conn: sqlite3.Connection, readonly: bool) -> None:
    try:
        store._init_reader(directory, conn, readonly)
    except (sqlite3.DatabaseError, KeyError, ValueError, TypeError) as exc:
        raise StoreError(f"{directory}: the run is damaged or incomplete ({exc})") from None


def _time(t_s: Any, where: Path) -> float:
    try:
        t = float(t_s)
    except (TypeError, ValueError):
        t = math.nan
    if not math.isfinite(t):
        raise StoreError(f"{where}: time {t_s!r}: expected a finite number of seconds")
    return t


def _floats(values: Any, where: Path) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{where}: expected numbers ({exc})") from None


def _wall(wall_time: float | None) -> float:
    return time.time() if wall_time is None else float(wall_time)

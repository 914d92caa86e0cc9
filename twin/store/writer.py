"""The writer's state: the unsealed buffer of ticks, the commit schedule, the background committer.

The buffer holds up to ``block_ticks`` frames not yet sealed into a block; its first ``saved``
rows are already in the ``tail`` table (committed). A writer opened on a run whose previous
writer was killed starts with those tail rows in its buffer and carries on.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
import weakref
from typing import TYPE_CHECKING

import numpy as np

from twin.store.files import WriterLock
from twin.store.reader import RunReader

if TYPE_CHECKING:
    from twin.store.runstore import RunStore


class Writer:
    """The writer's state: the unsealed buffer, commit schedule and background committer."""

    def __init__(self, store: RunStore, lock: WriterLock, commit_every_s: float,
                 level: int) -> None:
        conn = store._conn
        self.lock = lock
        self.level = level
        self.commit_every_s = float(commit_every_s)
        self.width = len(store.channels())
        n = store.block_ticks
        self.buf_t = np.empty(n)
        self.buf_f = np.empty((n, self.width))
        nxt, last = conn.execute("SELECT coalesce(max(id) + 1, 0), max(t_last) FROM blocks"
                                 ).fetchone()
        self.next_block = int(nxt)
        self.last_t = -math.inf if last is None else float(last)
        tt, tf = RunReader._tail(store)  # rows a killed writer committed but did not seal
        if tt.size > n:
            raise store._corrupt(f"the tail holds {tt.size} ticks, more than a block")
        self.fill = self.saved = int(tt.size)
        self.buf_t[:tt.size] = tt
        self.buf_f[:tt.size] = tf
        if tt.size:
            self.last_t = float(tt[-1])
        self.committed_t = self.last_t
        self.dirty = False
        self.due = time.monotonic() + self.commit_every_s
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=committer, args=(weakref.ref(store), self),
                                       name=f"store-commit {store.directory.name}", daemon=True)
        self.thread.start()


def committer(ref: weakref.ref[RunStore], w: Writer) -> None:
    """Commit on schedule while the writer is idle, so a crash loses at most ~1 s."""
    period = max(0.01, min(0.1, w.commit_every_s / 4))
    while not w.stop.wait(period):
        store = ref()
        if store is None:
            return
        with store._lock:
            if store._conn is not None and w.dirty and w.failure is None \
                    and time.monotonic() >= w.due:
                try:
                    store._commit()
                except (sqlite3.Error, OSError) as exc:
                    w.failure = exc
        del store

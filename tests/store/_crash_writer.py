"""Child process for the crash tests: records until it is killed, reporting on stdout.

    python _crash_writer.py RUN_DIR MODE      MODE: flush | auto | idle

Every line it prints is ``c <committed sim time> <monotonic wall time>``, written only after
that commit has returned. ``flush`` appends 37 ticks at a time and flushes after each batch;
``auto`` appends one tick at a time and never flushes (the store's 1 s automatic commit);
``idle`` appends 10 ticks and then stops writing (the background committer must save them).
Ticks are 0.5 s apart from t = 0 and frames are ``awkward_frames(t)``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _storehelp import awkward_frames, small_channels

from twin.store import RunStore


def report(store: RunStore) -> None:
    print(f"c {store.committed_t_s!r} {time.monotonic()!r}", flush=True)


def main() -> None:
    directory, mode = sys.argv[1], sys.argv[2]
    store = RunStore.create(directory, small_channels(), block_ticks=64)
    k = 0
    if mode == "idle":
        times = np.arange(10) * 0.5
        store.append_block(times, awkward_frames(times))
        while store.committed_t_s is None:
            time.sleep(0.01)
        report(store)
        sys.stdin.read()  # wait to be killed
        return
    last = None
    while True:
        if mode == "flush":
            times = (k + np.arange(37)) * 0.5
            store.append_block(times, awkward_frames(times))
            k += 37
            store.flush()
            report(store)
        else:
            t = k * 0.5
            store.append(t, awkward_frames(np.array([t]))[0])
            k += 1
            if store.committed_t_s != last:
                last = store.committed_t_s
                report(store)


if __name__ == "__main__":
    main()

"""A run being written reads consistently from elsewhere, and survives ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _storehelp import awkward_frames, same_bits

from twin.store import RunStore, StoreError

CHILD = Path(__file__).with_name("_crash_writer.py")


def assert_consistent_prefix(store: RunStore, at_least: float) -> int:
    """The run holds ticks 0, 0.5, 1, … up to at least ``at_least``, each frame exact."""
    times, frames = store.read_frames()
    assert times.size and times[-1] >= at_least
    assert same_bits(times, np.arange(times.size) * 0.5)
    assert same_bits(frames, awkward_frames(times))
    return int(times.size)


def test_a_reader_sees_only_committed_ticks_while_the_writer_works(tmp_path, channels):
    times = np.arange(40) * 0.5
    frames = awkward_frames(times)
    with RunStore.create(tmp_path / "r", channels, block_ticks=16,
                         commit_every_s=3600.0) as w:
        w.append_block(times[:10], frames[:10])
        w.flush()
        with RunStore.open(tmp_path / "r") as r:
            assert r.tick_count() == 10 and r.committed_t_s == 4.5
            w.append_block(times[10:40], frames[10:40])  # seals two blocks, not committed
            t, f = r.read_frames()
            assert same_bits(t, times[:10]) and same_bits(f, frames[:10])
            assert same_bits(r.read_instant(100.0), frames[9])
            w.flush()
            t, f = r.read_frames()
            assert same_bits(t, times) and same_bits(f, frames)
            assert same_bits(r.read_channel("orbit.sunlit", 5.0, 8.0)[1], frames[10:17, 1])


def test_a_reader_seeks_and_reads_across_unsealed_chunks(tmp_path, channels):
    times = np.arange(15) * 0.5
    frames = awkward_frames(times)
    with RunStore.create(tmp_path / "r", channels, block_ticks=64) as w:
        for a in (0, 5, 10):  # three commits: three tail chunks, no sealed block
            w.append_block(times[a:a + 5], frames[a:a + 5])
            w.flush()
        with RunStore.open(tmp_path / "r") as r:
            assert r.time_range() == (0.0, 7.0) and r.tick_count() == 15
            assert same_bits(r.read_instant(3.2), frames[6])
            assert same_bits(r.read_instant(2.4), frames[4])  # last tick of the first chunk
            t, v = r.read_channel("power.bus.voltage_v", 2.0, 5.5)
            assert same_bits(t, times[4:12]) and same_bits(v, frames[4:12, 7])
            with pytest.raises(StoreError, match="nothing recorded"):
                r.read_instant(-1.0)


@pytest.mark.parametrize("mode", ["flush", "auto", "idle"])
def test_kill_9_keeps_every_reported_commit_and_the_run_reads_and_resumes(tmp_path, mode):
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, str(CHILD), str(run), mode],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    reports: list[tuple[float, float]] = []
    try:
        assert child.stdout is not None
        wanted = {"flush": 20, "auto": 3, "idle": 1}[mode]
        while len(reports) < wanted:
            line = child.stdout.readline()
            assert line.startswith("c "), f"child said {line!r}"
            _, t, wall = line.split()
            reports.append((float(t), float(wall)))
            if mode == "flush" and len(reports) == 10:  # another process reads meanwhile
                with RunStore.open(run) as r:
                    assert_consistent_prefix(r, reports[-1][0])
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
    committed = reports[-1][0]
    if mode == "auto":  # the automatic commit came at least once per second of wall time
        gaps = np.diff([wall for _, wall in reports])
        assert np.all(gaps < 1.5), gaps
    with RunStore.open(run) as r:
        n = assert_consistent_prefix(r, committed)
    if mode == "idle":
        assert n == 10
    with RunStore.open(run, readonly=False) as w:  # a killed run can be resumed
        more = (n + np.arange(5)) * 0.5
        w.append_block(more, awkward_frames(more))
    with RunStore.open(run) as r:
        assert assert_consistent_prefix(r, more[-1]) == n + 5

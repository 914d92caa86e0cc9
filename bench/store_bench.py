"""Embedded store: ingest speed, read speed, seek time and size, on real plant frames.

Records 2 h of the default satellite (903 channels) at 1 s steps once, then replays those
frames into a run store until it holds ``--hours`` (24 by default) of 1 Hz ticks, shifting the
time channel so the data stays coherent. Prints, each with its ratio to the issue's goal:

- ingest in channel-samples per second (``append_block`` in 10-minute batches, and ``append``
  one frame at a time as the recorder does), against two baselines measured in the same run:
  ``np.save`` of the same frames (no compression, no crash safety) and a naive SQLite insert of
  one row per sample;
- reading one channel over the whole run (goal ≤ 50 ms for 24 h at 1 Hz);
- a cold seek: every channel at a random instant (goal ≤ 20 ms), and a warm one (replay
  stepping tick by tick through a cached block);
- bytes per sample on disk (goal ≤ 4) and the compression ratio against raw float64.

    .venv/bin/python bench/store_bench.py [--hours 24] [--quick] [--dir DIR]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

from twin.catalogue import Catalogue, build_catalogue
from twin.config import SatelliteConfig, load_satellite
from twin.model.plant import Plant
from twin.store import RunStore, run_meta
from twin.store.schema import DB_NAME

GOAL_INGEST = 2e6  # channel-samples/s
GOAL_READ_MS = 50.0  # one channel, 24 h at 1 Hz
GOAL_SEEK_MS = 20.0
GOAL_BYTES = 4.0  # per sample
BATCH = 600  # ticks per append_block call: 10 minutes at 1 Hz


def plant_frames(catalogue: Catalogue, seconds: int) -> np.ndarray:
    """``seconds`` + 1 frames of a nominal default-satellite run at 1 s steps."""
    cfg = load_satellite().config
    plant = Plant(cfg, seed=1)
    frames = np.empty((seconds + 1, len(catalogue)))
    frames[0] = catalogue.sample(plant)
    for i in range(1, seconds + 1):
        plant.step(1.0)
        frames[i] = catalogue.sample(plant)
    return frames


def batches(base: np.ndarray, ticks: int, time_col: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times, frames) batches of the base frames replayed to ``ticks`` ticks at 1 Hz."""
    period = base.shape[0] - 1  # the last base frame would repeat the next replay's first
    for start in range(0, ticks, BATCH):
        times = np.arange(start, min(start + BATCH, ticks), dtype=np.float64)
        frames = base[times.astype(np.int64) % period]
        frames[:, time_col] = times
        yield times, frames


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def baseline_npsave(frames: np.ndarray, directory: Path) -> float:
    path = directory / "frames.npy"
    t0 = time.perf_counter()
    np.save(path, frames)
    wall = time.perf_counter() - t0
    path.unlink()
    return frames.size / wall


def baseline_naive_sqlite(frames: np.ndarray, directory: Path) -> float:
    """One row (time, channel, value) per sample, one transaction per second of data."""
    conn = sqlite3.connect(directory / "naive.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE s (t REAL, channel INTEGER, value REAL, "
                 "PRIMARY KEY (channel, t)) WITHOUT ROWID")
    channels = range(frames.shape[1])
    t0 = time.perf_counter()
    for i, row in enumerate(frames):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO s VALUES (?, ?, ?)",
                         zip([float(i)] * frames.shape[1], channels, row.tolist(), strict=True))
        conn.execute("COMMIT")
    wall = time.perf_counter() - t0
    conn.close()
    return frames.size / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0, help="run length to build (1 Hz)")
    ap.add_argument("--quick", action="store_true", help="a 2 h run instead of 24 h")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    hours = 2.0 if args.quick else args.hours
    ticks = int(hours * 3600)
    cfg = load_satellite().config
    catalogue = build_catalogue(cfg)
    width = len(catalogue)
    t0 = time.perf_counter()
    base = plant_frames(catalogue, 7200)
    print(f"plant frames: 2 h at 1 s of {width} channels in {time.perf_counter() - t0:.1f} s; "
          f"building a {hours:g} h run ({ticks:,} ticks, {ticks * width / 1e6:,.1f} M samples)")
    tmp = tempfile.TemporaryDirectory(prefix="store-bench-", dir=args.dir)
    work = Path(tmp.name)
    try:
        run_bench(catalogue, cfg, base, ticks, work)
    finally:
        tmp.cleanup()


def run_bench(catalogue: Catalogue, cfg: SatelliteConfig, base: np.ndarray, ticks: int,
              work: Path) -> None:
    width = len(catalogue)
    time_col = catalogue["sim.time_s"].index
    samples = ticks * width

    # --- ingest ------------------------------------------------------------------------
    meta = run_meta(cfg, seed=1, step_s=1.0, record_every_s=1.0)
    wall = 0.0
    store = RunStore.create(work / "run", catalogue, meta)
    for times, frames in batches(base, ticks, time_col):
        t0 = time.perf_counter()
        store.append_block(times, frames)
        wall += time.perf_counter() - t0
    t0 = time.perf_counter()
    store.close()
    wall += time.perf_counter() - t0
    ingest = samples / wall
    one = RunStore.create(work / "one", catalogue, meta)
    n_one = min(ticks, 3600)
    t0 = time.perf_counter()
    for i in range(n_one):
        one.append(float(i), base[i])
    one.close()
    ingest_one = n_one * width / (time.perf_counter() - t0)
    npsave = baseline_npsave(base, work)
    naive = baseline_naive_sqlite(base[:60], work)
    print(f"block ticks {store.block_ticks}; frames appended in batches of {BATCH}")
    print(f"ingest, append_block: {ingest / 1e6:6.2f} M samples/s "
          f"(goal ≥ {GOAL_INGEST / 1e6:g} M: ratio {ingest / GOAL_INGEST:.2f})")
    print(f"ingest, append (one frame per call): {ingest_one / 1e6:6.2f} M samples/s "
          f"(ratio to goal {ingest_one / GOAL_INGEST:.2f})")
    print(f"  baseline np.save of 2 h of frames: {npsave / 1e6:7.2f} M samples/s "
          f"(store/np.save = {ingest / npsave:.3f})")
    print(f"  baseline SQLite, one row per sample: {naive / 1e6:5.2f} M samples/s "
          f"(store/naive = {ingest / naive:.1f}×)")

    # --- size --------------------------------------------------------------------------
    db = work / "run" / DB_NAME
    size = db.stat().st_size
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    (blobs,) = conn.execute("SELECT sum(length(data)) FROM samples").fetchone()
    conn.close()
    per = size / samples
    print(f"size: {size / 1e6:,.1f} MB on disk = {per:.2f} bytes/sample "
          f"(goal ≤ {GOAL_BYTES:g}: ratio {per / GOAL_BYTES:.2f}); compression vs raw float64 "
          f"{8 / per:.2f}×; sample blobs alone {blobs / samples:.2f} bytes/sample")

    # --- reads -------------------------------------------------------------------------
    with RunStore.open(work / "run") as run:
        paths = ["compute.rack.1.gpu.1.temp_c", "power.battery.1.soc_pct", "orbit.sunlit",
                 "power.bus.voltage_v"]
        rows = []
        for p in paths:
            got = timed(partial(run.read_channel, p), 5)
            rows.append((p, statistics.median(got), max(got)))
        n = run.read_channel(paths[0])[0].size
        worst = max(r[2] for r in rows)
        print(f"read one channel, {n:,} ticks ({ticks / 3600:g} h at 1 Hz), median/max of 5 "
              "(the max is the first, cold read):")
        for p, med, mx in rows:
            print(f"  {p:32s} {med * 1e3:6.1f} / {mx * 1e3:6.1f} ms")
        print(f"  worst {worst * 1e3:.1f} ms (goal ≤ {GOAL_READ_MS:g} ms: ratio "
              f"{worst * 1e3 / GOAL_READ_MS:.2f})")
        rng = np.random.default_rng(7)
        cold = []
        for t in rng.uniform(0, ticks - 1, 200):
            run._cache.clear()  # cold: decode one block of every channel (OS cache is warm)
            cold.extend(timed(partial(run.read_instant, float(t)), 1))
        cold_ms = np.array(cold) * 1e3
        start = float(ticks // 2)
        warm: list[float] = []
        run.read_instant(start)
        for k in range(1, 1001):
            warm.extend(timed(partial(run.read_instant, start + k), 1))
        p95 = float(np.percentile(cold_ms, 95))
        print(f"seek, every channel at a random instant (cold, 200 seeks): median "
              f"{np.median(cold_ms):.1f} ms, p95 {p95:.1f} ms, max {cold_ms.max():.1f} ms "
              f"(goal ≤ {GOAL_SEEK_MS:g} ms: p95 ratio {p95 / GOAL_SEEK_MS:.2f})")
        print(f"seek, replay stepping 1,000 ticks: mean {statistics.mean(warm) * 1e6:.0f} µs "
              "per tick (a block is decoded once, then cached)")


if __name__ == "__main__":
    main()
